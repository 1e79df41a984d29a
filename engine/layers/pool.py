"""Layer kinds of the pool family (being written)."""

KINDS = ()
