"""Model families built from attnlib layers (one module per family)."""
