"""Layer kinds of the regularization family (being written)."""

KINDS = ()
