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
import torch.nn.functional as F

from .._validate import (
    check_heads_divide,
    check_positive_int,
    check_tensor,
    shape_str,
)

__all__ = [
    "ModelOutput",
    "check_config",
    "check_max_new_tokens",
    "teacher_forcing",
    "sample_next",
    "decode_until_eos",
    "token_cross_entropy",
    "TeacherForcedLoss",
]


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
            f"{shape_str(tgt)}"
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


def decode_until_eos(
    next_logits,
    batch: int,
    max_new_tokens: int,
    *,
    bos_id: int,
    eos_id: int,
    fill_id: int,
    device=None,
    **sampling,
) -> torch.Tensor:
    """The decoding loop of the encoder–decoder models: start every row with
    ``bos_id``; at each step ask ``next_logits(out)`` for the ``(batch,
    vocab)`` logits of the next token, pick it with :func:`sample_next`
    (``temperature``, ``top_k``, ``generator``), and stop once every row has
    produced ``eos_id`` (later positions of a finished row get
    ``fill_id``)."""
    check_max_new_tokens(max_new_tokens)
    out = torch.full((batch, 1), bos_id, dtype=torch.long, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    for _ in range(max_new_tokens):
        nxt = sample_next(next_logits(out), **sampling)[:, 0]
        nxt = torch.where(done, torch.full_like(nxt, fill_id), nxt)
        out = torch.cat([out, nxt[:, None]], dim=1)
        done |= nxt == eos_id
        if done.all():
            break
    return out


def token_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    inputs: torch.Tensor,
    names: tuple[str, str] = ("targets", "idx"),
    ignore_index: int | None = -100,
) -> torch.Tensor:
    """Mean cross-entropy (nats per token) of ``targets`` under ``logits``
    ``(batch, n, vocab)``: the loss of every sequence model. ``targets`` must
    have the shape of the ``inputs`` the logits were computed from (the
    contract: targets are aligned with the outputs); ``names`` name both in
    the error."""
    if targets.shape != inputs.shape:
        raise ValueError(
            f"{names[0]} must have the shape of {names[1]} "
            f"{shape_str(inputs)}, got {shape_str(targets)}"
        )
    return F.cross_entropy(
        logits.flatten(0, 1),
        targets.flatten(),
        ignore_index=-100 if ignore_index is None else ignore_index,
    )


class TeacherForcedLoss:
    """The loss of the encoder–decoder models (mixed into
    ``EncoderDecoder`` and ``Seq2Seq``)."""

    def loss(
        self, src: torch.Tensor, tgt_in: torch.Tensor, tgt_out: torch.Tensor
    ) -> torch.Tensor:
        """Teacher-forced cross-entropy: the decoder reads ``tgt_in`` and
        predicts ``tgt_out`` position by position (``cfg.pad_id`` ignored);
        :func:`teacher_forcing` makes both from ``<bos> y <eos>``."""
        check_tensor("tgt_out", tgt_out, ndim=2)
        return token_cross_entropy(
            self(src, tgt_in),
            tgt_out,
            inputs=tgt_in,
            names=("tgt_out", "tgt_in"),
            ignore_index=self.cfg.pad_id,
        )
