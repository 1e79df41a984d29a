"""Layer kinds of the reshape family (being written)."""

KINDS = ()
