"""One training loop for the whole book.

``fit`` takes a model, a source of batches and a ``loss_fn(model, batch)``
that returns a scalar loss (so the same loop trains a regressor, a language
model or a detector). It shows a ``tqdm`` bar, evaluates every
``eval_every`` steps and returns a :class:`History`.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch

from .device import evaluating
from .progress import progress

__all__ = ["History", "fit", "cosine_schedule"]


@dataclass
class History:
    """What happened during training: losses per step and evaluations."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def last(self, name: str) -> float:
        """The latest value of an evaluation metric (or ``"train_loss"``)."""
        if name == "train_loss":
            if not self.train_loss:
                raise KeyError("no training steps recorded")
            return self.train_loss[-1]
        if name not in self.eval or not self.eval[name]:
            raise KeyError(
                f"no evaluation named {name!r}; have {sorted(self.eval)}"
            )
        return self.eval[name][-1]

    def smoothed_train_loss(self, window: int = 20) -> list[float]:
        """Running mean of the training loss, for plotting."""
        out, acc = [], 0.0
        for i, x in enumerate(self.train_loss):
            acc += x
            if i >= window:
                acc -= self.train_loss[i - window]
            out.append(acc / min(i + 1, window))
        return out


def cosine_schedule(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int = 0,
    min_factor: float = 0.1,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to ``min_factor`` times the base
    rate."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = min(
            1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps)
        )
        return min_factor + (1 - min_factor) * 0.5 * (
            1 + math.cos(math.pi * t)
        )

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _batches(data: Iterable | Callable[[], object]):
    """Yield batches forever from an iterable (cycled) or a batch-making
    function."""
    if callable(data) and not hasattr(data, "__iter__"):
        while True:
            yield data()
    else:
        for epoch in itertools.count():
            empty = True
            for batch in data:
                empty = False
                yield batch
            if empty:
                raise ValueError("train_data produced no batches")


def fit(
    model: torch.nn.Module,
    train_data,
    loss_fn: Callable[[torch.nn.Module, object], torch.Tensor],
    *,
    steps: int,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    scheduler=None,
    eval_fn: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    eval_every: int | None = None,
    clip_grad: float | None = None,
    show_progress: bool = True,
    desc: str = "training",
) -> History:
    """Train ``model`` for ``steps`` optimisation steps and return its
    :class:`History`.

    Parameters
    ----------
    train_data : an iterable of batches (a DataLoader, a list; cycled as
        needed) or a zero-argument function that returns a fresh random batch.
    loss_fn : ``loss_fn(model, batch) -> scalar tensor``.
    optimizer : defaults to ``AdamW(model.parameters(), lr=lr)``.
    scheduler : anything with ``.step()``, stepped after each optimiser step.
    eval_fn : ``eval_fn(model) -> {"name": value}``, called (under
        ``torch.no_grad`` and ``model.eval()``) every ``eval_every`` steps and
        at the end.
    clip_grad : clip the global gradient norm to this value.
    """
    if not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if optimizer is None:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    eval_every = eval_every or steps
    hist = History()
    start = time.perf_counter()

    def evaluate(step: int) -> None:
        if eval_fn is None:
            return
        with evaluating(model), torch.no_grad():
            metrics = eval_fn(model)
        hist.eval_steps.append(step)
        for name, value in metrics.items():
            hist.eval.setdefault(name, []).append(float(value))

    model.train()
    bar = progress(
        total=steps, desc=desc, disable=not show_progress, unit="steps"
    )
    batches = _batches(train_data)
    for step in range(1, steps + 1):
        loss = loss_fn(model, next(batches))
        if not torch.isfinite(loss):
            bar.close()
            raise FloatingPointError(
                f"loss became {loss.item()} at step {step}; try a lower lr or "
                "clip_grad"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        hist.steps.append(step)
        hist.train_loss.append(loss.item())
        if step % eval_every == 0 or step == steps:
            evaluate(step)
            if hist.eval:
                bar.set_postfix(
                    {k: f"{v[-1]:.4g}" for k, v in hist.eval.items()},
                    refresh=False,
                )
        elif step % 10 == 0:
            bar.set_postfix(
                loss=f"{hist.smoothed_train_loss()[-1]:.4g}", refresh=False
            )
        bar.update(1)
    bar.close()
    model.eval()
    hist.seconds = time.perf_counter() - start
    return hist
