"""Model families built from attnlib layers (one module per family).

:mod:`attnlib.models.contract` holds the rules they share (config fields,
``forward``/``loss``/``generate`` conventions)."""

from .contract import ModelOutput, sample_next, teacher_forcing

__all__ = ["ModelOutput", "sample_next", "teacher_forcing"]
