"""Layer kinds of the activation family (being written)."""

KINDS = ()
