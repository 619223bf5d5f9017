"""Attention as plain functions: scores, masks, softmax, weighted sums.

Conventions used throughout the book and the library:

* queries ``q``: ``(..., n_q, d)``; keys ``k``: ``(..., n_k, d)``; values
  ``v``: ``(..., n_k, d_v)``; the leading ``...`` (batch, heads) must match.
* a **boolean mask** holds ``True`` where a query *may* attend to a key (the
  same convention as ``torch.nn.functional.scaled_dot_product_attention``);
  a **float mask** is added to the scores (``0`` keeps, ``-inf`` blocks).
* a query whose keys are all masked gets all-zero weights and a zero output,
  never NaN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._validate import (
    check_mask,
    check_qkv,
    check_same_device,
    check_tensor,
    shape_str,
)

__all__ = [
    "masked_softmax",
    "dot_scores",
    "scaled_dot_scores",
    "additive_scores",
    "attention",
    "causal_mask",
    "padding_mask",
    "key_padding_to_attn_mask",
    "combine_masks",
]


def masked_softmax(
    scores: torch.Tensor, mask: torch.Tensor | None = None, dim: int = -1
) -> torch.Tensor:
    """Softmax over ``dim`` that ignores masked entries.

    ``mask`` is boolean (True = keep) or float (added to ``scores``) and must
    broadcast to ``scores``. Rows where every entry is masked (or ``-inf``)
    come out as zeros, and their gradients are zero rather than NaN.
    """
    check_tensor("scores", scores, min_dim=1, floating=True)
    check_mask("mask", mask, tuple(scores.shape))
    check_same_device(scores=scores, mask=mask)
    return _masked_softmax(scores, mask, dim)


def _masked_softmax(
    scores: torch.Tensor, mask: torch.Tensor | None, dim: int = -1
) -> torch.Tensor:
    """:func:`masked_softmax` for a mask its caller has already checked."""
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask.to(scores.dtype)
    dead = torch.isneginf(scores).all(dim=dim, keepdim=True)
    # Replace dead rows by a constant so softmax stays finite, then zero them.
    weights = torch.softmax(scores.masked_fill(dead, 0.0), dim=dim)
    return weights.masked_fill(dead, 0.0)


def _check_qk(q: torch.Tensor, k: torch.Tensor) -> None:
    check_tensor("q", q, min_dim=2, floating=True)
    check_tensor("k", k, min_dim=2, floating=True)
    check_same_device(q=q, k=k)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q has feature size {q.shape[-1]} but k has {k.shape[-1]}: "
            "expected q (..., n_q, d) and k (..., n_k, d), got "
            f"{shape_str(q)} and {shape_str(k)}"
        )


def dot_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Unscaled dot-product scores ``q @ k^T``: ``(..., n_q, n_k)``."""
    _check_qk(q, k)
    return q @ k.transpose(-2, -1)


def scaled_dot_scores(
    q: torch.Tensor, k: torch.Tensor, scale: float | None = None
) -> torch.Tensor:
    """Scaled dot-product scores ``q @ k^T / sqrt(d)`` (or times ``scale``)."""
    _check_qk(q, k)
    s = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return (q @ k.transpose(-2, -1)) * s


def additive_scores(
    q: torch.Tensor,
    k: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
) -> torch.Tensor:
    """Additive (Bahdanau) scores ``w_v . tanh(W_q q_i + W_k k_j)``.

    ``q``: ``(..., n_q, d_q)``, ``k``: ``(..., n_k, d_k)`` (sizes may differ),
    ``w_q``: ``(h, d_q)``, ``w_k``: ``(h, d_k)``, ``w_v``: ``(h,)``.
    Returns ``(..., n_q, n_k)``. Memory grows as ``n_q * n_k * h``.
    """
    check_tensor("q", q, min_dim=2, floating=True)
    check_tensor("k", k, min_dim=2, floating=True)
    check_tensor("w_q", w_q, ndim=2, floating=True)
    check_tensor("w_k", w_k, ndim=2, floating=True)
    check_tensor("w_v", w_v, ndim=1, floating=True)
    check_same_device(q=q, k=k, w_q=w_q, w_k=w_k, w_v=w_v)
    if w_q.shape[1] != q.shape[-1]:
        raise ValueError(
            f"w_q must be (h, {q.shape[-1]}) to match q's feature size, got "
            f"{shape_str(w_q)}"
        )
    if w_k.shape[1] != k.shape[-1]:
        raise ValueError(
            f"w_k must be (h, {k.shape[-1]}) to match k's feature size, got "
            f"{shape_str(w_k)}"
        )
    if not (w_q.shape[0] == w_k.shape[0] == w_v.shape[0]):
        raise ValueError(
            "w_q, w_k and w_v must share the hidden size h, got "
            f"{shape_str(w_q)}, {shape_str(w_k)}, {shape_str(w_v)}"
        )
    features = torch.tanh(
        (q @ w_q.T).unsqueeze(-2) + (k @ w_k.T).unsqueeze(-3)
    )  # (..., n_q, n_k, h)
    return features @ w_v


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    is_causal: bool = False,
    scale: float | None = None,
    score: str = "scaled_dot",
    dropout_p: float = 0.0,
    training: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention pooling: ``softmax(score(q, k) + mask) @ v``.

    Parameters
    ----------
    q, k, v : ``(..., n_q, d)``, ``(..., n_k, d)``, ``(..., n_k, d_v)``
    mask : bool (True = may attend) or float (added), broadcastable to
        ``(..., n_q, n_k)``
    is_causal : also block keys after each query (query ``i`` sees keys
        ``<= i``); with ``n_q < n_k`` the queries are the *last* ``n_q``
        positions (bottom-right alignment, as when decoding with a cache),
        unlike SDPA's ``is_causal``, which aligns top-left
    scale : multiplier of ``q @ k^T``; default ``1/sqrt(d)``; ignored for
        ``score="dot"``
    score : ``"scaled_dot"`` (default) or ``"dot"``
    dropout_p : dropout on the weights (applied only when ``training``)

    Returns ``(output (..., n_q, d_v), weights (..., n_q, n_k))``. With the
    defaults and no dropout this equals
    ``torch.nn.functional.scaled_dot_product_attention``.
    """
    check_qkv(q, k, v)
    check_same_device(q=q, mask=mask)
    if score not in ("scaled_dot", "dot"):
        raise ValueError(
            f"score must be 'scaled_dot' or 'dot', got {score!r} (use "
            "AdditiveAttention for additive)"
        )
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    n_q, n_k = q.shape[-2], k.shape[-2]
    check_mask("mask", mask, (*q.shape[:-2], n_q, n_k))
    scores = (
        dot_scores(q, k) if score == "dot" else scaled_dot_scores(q, k, scale)
    )
    if is_causal:
        mask = combine_masks(mask, causal_mask(n_q, n_k, device=q.device))
    weights = _masked_softmax(scores, mask)  # mask checked above
    dropped = (
        F.dropout(weights, p=dropout_p, training=training)
        if dropout_p > 0
        else weights
    )
    return dropped @ v, weights


def causal_mask(
    n_q: int,
    n_k: int | None = None,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Boolean ``(n_q, n_k)`` mask, True where key ``j <= i`` (query ``i``).

    With ``n_k > n_q`` the queries are taken to be the *last* ``n_q``
    positions (as when generating with a cache), matching the top-left
    alignment used by PyTorch's ``is_causal`` only when ``n_q == n_k``.
    """
    n_k = n_q if n_k is None else n_k
    if n_q < 0 or n_k < 0:
        raise ValueError(
            f"n_q and n_k must be non-negative, got {n_q} and {n_k}"
        )
    return torch.ones(n_q, n_k, dtype=torch.bool, device=device).tril(
        diagonal=n_k - n_q
    )


def padding_mask(
    lengths: torch.Tensor | list[int], max_len: int | None = None
) -> torch.Tensor:
    """Boolean ``(batch, max_len)`` mask, True for real tokens, False for
    padding."""
    if not isinstance(lengths, torch.Tensor):
        lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(
            f"lengths must be 1-D (batch,), got shape {shape_str(lengths)}"
        )
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise TypeError(
            f"lengths must be an integer tensor, got dtype {lengths.dtype}"
        )
    if (lengths < 0).any():
        raise ValueError("lengths must be non-negative")
    longest = int(lengths.max()) if lengths.numel() else 0
    max_len = longest if max_len is None else max_len
    if max_len < longest:
        raise ValueError(
            f"max_len={max_len} is shorter than the longest sequence "
            f"({longest})"
        )
    return torch.arange(max_len, device=lengths.device) < lengths.unsqueeze(-1)


def key_padding_to_attn_mask(key_padding: torch.Tensor) -> torch.Tensor:
    """Turn a ``(batch, n_k)`` key mask (True = real token) into
    ``(batch, 1, 1, n_k)``, which broadcasts over heads and queries."""
    check_tensor("key_padding", key_padding, ndim=2)
    if key_padding.dtype != torch.bool:
        raise TypeError(
            "key_padding must be a bool tensor (True = real token), got "
            f"{key_padding.dtype}"
        )
    return key_padding[:, None, None, :]


def combine_masks(*masks: torch.Tensor | None) -> torch.Tensor | None:
    """Combine masks that all must allow a position: bool masks by AND,
    float masks by addition (a bool mask becomes 0/-inf when mixed)."""
    present = [m for m in masks if m is not None]
    if not present:
        return None
    if all(m.dtype == torch.bool for m in present):
        out = present[0]
        for m in present[1:]:
            out = out & m
        return out
    dtype = next(m.dtype for m in present if m.dtype != torch.bool)
    out = None
    for m in present:
        if m.dtype == torch.bool:
            m = torch.zeros(m.shape, dtype=dtype, device=m.device).masked_fill(
                ~m, float("-inf")
            )
        out = m if out is None else out + m
    return out
