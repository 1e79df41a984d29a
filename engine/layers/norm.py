"""Layer kinds of the norm family (being written)."""

KINDS = ()
