"""Self-checks for exercises: a clear pass / fail message that says what
differs.

The pattern used in every chapter::

    def my_answer(x):  # the exercise cell: until the learner writes it,
        raise NotImplementedError("Exercise 2.1: write my_answer")


    attempt("Exercise 2.1", lambda: check_close(my_answer(x), expected))

``attempt`` reports "not attempted yet" while the exercise still raises
``NotImplementedError``; a wrong answer raises ``AssertionError`` with the
reason; a right one prints a pass line. The worked solution (in a dropdown)
calls the same check, so the book's build proves the solution right.
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["check_close", "check_shape", "check_true", "attempt"]


def _as_tensor(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)


def check_shape(got, expected: tuple[int, ...], name: str = "result") -> None:
    """Fail unless ``got`` has exactly the shape ``expected``."""
    shape = tuple(_as_tensor(got).shape)
    if shape != tuple(expected):
        raise AssertionError(
            f"{name} has shape {shape}, expected {tuple(expected)}"
        )


def check_close(
    got,
    expected,
    name: str = "result",
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> None:
    """Fail unless ``got`` matches ``expected`` in shape and values (within
    tolerances)."""
    g, e = _as_tensor(got), _as_tensor(expected)
    check_shape(g, tuple(e.shape), name)
    g, e = g.detach().double().cpu(), e.detach().double().cpu()
    # NaN and infinities must sit where the expected values have them (a
    # finite number where -inf is expected, e.g. a missing mask, is wrong)
    stray_nan = g.isnan() & ~e.isnan()
    if stray_nan.any():
        raise AssertionError(
            f"{name} contains NaN at {stray_nan.nonzero()[0].tolist()}"
        )
    special = g.isnan() | e.isnan() | g.isinf() | e.isinf()
    _fail_at(name, g, e, special & ~((g == e) | (g.isnan() & e.isnan())))
    diff = (g - e).abs().masked_fill(special, 0.0)
    bad = diff > atol + rtol * e.abs().masked_fill(special, 0.0)
    _fail_at(name, g, e, bad, f" (max abs difference {diff.max().item():.3g})")


def _fail_at(name, got, expected, bad, extra: str = "") -> None:
    """Fail naming how many entries are ``bad`` and the first of them."""
    if bad.any():
        idx = tuple(bad.nonzero()[0].tolist())
        raise AssertionError(
            f"{name} differs at {int(bad.sum())} of {bad.numel()} entries; "
            f"first at index {idx}: got {got[idx].item():.6g}, expected "
            f"{expected[idx].item():.6g}{extra}"
        )


def check_true(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


def attempt(name: str, check: Callable[[], None]) -> bool:
    """Run ``check``; report pass, "not attempted yet", or let the failure
    explain itself.

    Returns True on a pass and False when the exercise is not attempted yet.
    """
    try:
        check()
    except NotImplementedError:
        # two short lines: the book's column shows about 80 characters
        print(f"[not attempted] {name}: fill in the exercise cell above,")
        print("  then run this cell again (worked solution: see below).")
        return False
    print(f"[passed] {name}")
    return True
