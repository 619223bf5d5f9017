"""The contract every attnlib model follows, in one place.

* **Config.** Each family has one config dataclass. Shared fields have one
  name and one meaning everywhere: ``d_model`` (width of the residual
  stream), ``num_heads``, ``num_layers`` (encoder blocks, or the only stack),
  ``d_ff`` (feed-forward width; ``None`` means ``4 * d_model`` in every
  model), ``dropout``, ``max_len`` (the longest input the model reads). They
  are validated by :func:`check_config`.
* **forward.** ``model(inputs...)`` returns the output tensor. With
  ``need_weights=True`` it returns ``ModelOutput(output, weights)``, a named
  tuple (so ``out, w = model(x, need_weights=True)`` works) whose
  ``weights`` is a list with one tensor per attention layer, each
  ``(batch, heads, queries, keys)``. A model with several kinds of
  attention (encoder–decoder) gives a dict of such lists, keyed by kind.
* **loss.** ``model.loss(inputs..., targets)`` takes the targets aligned
  with the output positions: the data pipeline shifts, never the model
  (:func:`teacher_forcing` splits ``<bos> y <eos>`` into the decoder's input
  and its targets).
* **decoding.** Models that write sequences have
  ``generate(inputs, max_new_tokens, *, temperature, top_k, generator)``;
  ``temperature=0`` is greedy.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from .._validate import check_heads_divide, check_positive_int, check_tensor

__all__ = [
    "ModelOutput",
    "check_config",
    "check_max_new_tokens",
    "teacher_forcing",
    "sample_next",
    "SHARED_FIELDS",
]

SHARED_FIELDS = ("d_model", "num_heads", "num_layers", "d_ff", "dropout")
"""Fields that, where a config has them, mean the same in every model."""


class ModelOutput(NamedTuple):
    """What ``forward(..., need_weights=True)`` returns."""

    output: torch.Tensor
    weights: Any  # list of (batch, heads, queries, keys), or a dict of lists


def check_config(cfg, *, positive=()) -> None:
    """Validate the shared fields ``cfg`` has (and the extra ``positive``
    ones), and fill ``d_ff = 4 * d_model`` when it is None."""
    for name in ("d_model", "num_heads", "num_layers", "max_len", *positive):
        if hasattr(cfg, name):
            check_positive_int(name, getattr(cfg, name))
    if hasattr(cfg, "num_heads"):
        check_heads_divide(cfg.d_model, cfg.num_heads)
    if hasattr(cfg, "d_ff"):
        if cfg.d_ff is None:
            cfg.d_ff = 4 * cfg.d_model
        check_positive_int("d_ff", cfg.d_ff)
    if hasattr(cfg, "dropout") and not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {cfg.dropout}")


def check_max_new_tokens(max_new_tokens) -> None:
    if (
        not isinstance(max_new_tokens, int)
        or isinstance(max_new_tokens, bool)
        or max_new_tokens < 0
    ):
        raise ValueError(
            "max_new_tokens must be a non-negative int, got "
            f"{max_new_tokens!r}"
        )


def teacher_forcing(tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split target ids ``<bos> y_1 .. y_m <eos> <pad>..`` ``(batch, m + 2)``
    into the decoder's input ``tgt[:, :-1]`` and the targets ``tgt[:, 1:]``:
    at every step the decoder reads the true previous token and predicts the
    next one."""
    check_tensor("tgt", tgt, ndim=2)
    if tgt.shape[1] < 2:
        raise ValueError(
            "tgt must hold <bos> and at least one more token, got shape "
            f"({tgt.shape[0]}, {tgt.shape[1]})"
        )
    return tgt[:, :-1], tgt[:, 1:]


def sample_next(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick the next token from ``(batch, vocab)`` logits: greedy when
    ``temperature == 0``, else sample from ``softmax(logits / temperature)``
    restricted to the ``top_k`` most likely tokens."""
    check_tensor("logits", logits, ndim=2, floating=True)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        if top_k <= 0:
            raise ValueError(f"top_k must be a positive int, got {top_k}")
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[
            :, -1:
        ]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)
