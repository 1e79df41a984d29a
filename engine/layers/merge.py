"""Layer kinds of the merge family (being written)."""

KINDS = ()
