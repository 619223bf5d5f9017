"""Pick the compute device, make runs reproducible, switch a model's mode.

``get_device()`` prefers CUDA, then Apple's MPS, then the CPU. Set the
environment variable ``ATTNLIB_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``,
``mps``) to override the choice, e.g. to force the CPU on a machine with a GPU.

``with evaluating(model):`` runs a block in eval mode and puts the model back
in the mode it was in, even if the block raises. This module imports nothing
from attnlib, so every layer (models included) may use it.
"""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

ENV_DEVICE = "ATTNLIB_DEVICE"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then MPS, then CPU.

    ``prefer`` (or the ``ATTNLIB_DEVICE`` environment variable, checked when
    ``prefer`` is None) names a device explicitly. Asking for a device that is
    not available raises ``ValueError`` rather than failing later.
    """
    choice = prefer if prefer is not None else os.environ.get(ENV_DEVICE)
    if choice:
        dev = torch.device(choice)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device {choice!r} requested (prefer/{ENV_DEVICE}) but CUDA "
                "is not available"
            )
        if dev.type == "mps" and not _mps_available():
            raise ValueError(
                f"device {choice!r} requested (prefer/{ENV_DEVICE}) but MPS "
                "is not available"
            )
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices); return a seeded CPU
    generator.

    The returned generator is handy for data shuffling that should not depend
    on how many random numbers the model's initialisation consumed.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    return torch.Generator().manual_seed(seed)


@contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put ``model`` in eval mode for a ``with`` block, then restore its
    previous mode (train or eval), also when the block raises.

    It does not turn off gradients: combine it with ``torch.no_grad()`` (or
    ``torch.inference_mode()``) where no backward pass follows.
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
