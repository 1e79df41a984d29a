"""Layer kinds of the backbone family (being written)."""

KINDS = ()
