"""Making attention cheaper: tiled, local, sparse and linear attention
kernels.

Every kernel here computes (or approximates, for linear attention) what
:func:`attnlib.functional.attention` computes exactly, with the same
conventions: ``q`` ``(..., n_q, d)``, ``k`` ``(..., n_k, d)``, ``v``
``(..., n_k, d_v)``; a boolean mask is True where a query may attend; a float
mask is added to the scores; with ``n_q < n_k`` the queries are the *last*
``n_q`` positions (bottom-right alignment, as when decoding with a cache); a
query that may attend to nothing gets a zero output, never NaN.

* :func:`tiled_attention`: exact attention computed block by block with an
  online softmax (the FlashAttention algorithm, written in PyTorch). Memory
  beyond the inputs and output is ``O(block_q * block_k)`` instead of
  ``O(n_q * n_k)``. Backward by recomputation (a custom autograd function), so
  training does not store the score matrix either.
* :func:`local_attention`: sliding-window attention (query ``i`` sees keys
  ``j`` with ``|i - j| < window``), optionally with global tokens that see and
  are seen by every position (the Longformer / BigBird pattern). Blocks
  outside the pattern are skipped, so the cost is ``O(n * window)``.
* :func:`local_global_mask`: the same pattern as an explicit boolean mask (the
  reference the kernels are tested against).
* :func:`linear_attention`: kernelised attention ``phi(q) . phi(k)`` with
  ``phi = elu + 1`` (Katharopoulos et al., 2020), non-causal and causal
  (chunked prefix sums), in ``O(n d^2)``.

The kernels take ``(q, k, v, *, is_causal)`` like the model's own attention,
so a trained model runs with one of them through its ``kernel`` argument
(``model(idx, kernel=tiled_attention)``, chapter 11); this module imports no
model. The KV cache is the model's too (:class:`attnlib.layers.KVCache`,
``CausalLM.generate(use_cache=True)``).
* :func:`peak_memory`: peak bytes torch allocates while a function runs (CPU
  or GPU), read from the PyTorch profiler's allocation events.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from typing import Callable

import torch
import torch.nn.functional as F

from ._validate import (
    check_mask,
    check_positive_int,
    check_qkv,
    check_same_device,
    check_tensor,
    shape_str,
)

__all__ = [
    "naive_attention",
    "tiled_attention",
    "local_attention",
    "local_global_mask",
    "linear_attention",
    "elu_feature_map",
    "peak_memory",
    "attention_flops",
]


# -----------------------------------------------------------------------------
# checks
# -----------------------------------------------------------------------------
def _check_block(name: str, value) -> int:
    check_positive_int(name, value)
    return value


def _scale(q: torch.Tensor, scale: float | None) -> float:
    return 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)


# -----------------------------------------------------------------------------
# the reference: materialise the whole score matrix
# -----------------------------------------------------------------------------
def naive_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    scale: float | None = None,
) -> torch.Tensor:
    """``softmax(q k^T * scale) v`` in three lines, materialising the
    ``(n_q, n_k)`` scores and weights: the baseline whose memory the other
    kernels avoid (no masks)."""
    check_qkv(q, k, v)
    scores = (q @ k.transpose(-2, -1)) * _scale(q, scale)
    return torch.softmax(scores, dim=-1) @ v


def attention_flops(n_q: int, n_k: int, d: int, d_v: int | None = None) -> int:
    """Multiply-adds x 2 of exact attention: ``2 n_q n_k d`` for ``q k^T`` plus
    ``2 n_q n_k d_v`` for the weighted sum (the softmax's ``O(n_q n_k)`` is
    left out)."""
    d_v = d if d_v is None else d_v
    return 2 * n_q * n_k * (d + d_v)


# -----------------------------------------------------------------------------
# which (query, key) pairs are allowed:
# causal, window, global tokens, a user mask
# -----------------------------------------------------------------------------
class _Pattern:
    """The structural part of a mask, computed from positions tile by tile
    (never as n x n).

    Query ``i`` (0-based among the ``n_q`` queries) sits at position
    ``i + offset`` with ``offset = n_k - n_q``. Allowed: ``j <= pos`` if
    causal; ``|pos - j| < window`` if a window is set, unless query or key is a
    global token (then only causality applies).
    """

    def __init__(
        self,
        n_q: int,
        n_k: int,
        *,
        causal: bool = False,
        window: int | None = None,
        global_idx: torch.Tensor | None = None,
        device=None,
    ):
        self.n_q, self.n_k, self.offset = n_q, n_k, n_k - n_q
        self.causal, self.window = causal, window
        self.is_global = None
        if global_idx is not None and global_idx.numel():
            self.is_global = torch.zeros(n_k, dtype=torch.bool, device=device)
            self.is_global[global_idx] = True
            self.global_list = sorted(set(global_idx.tolist()))

    @property
    def trivial(self) -> bool:
        return not self.causal and self.window is None

    def tile(
        self, i0: int, i1: int, j0: int, j1: int, device
    ) -> torch.Tensor | None:
        """Boolean ``(i1 - i0, j1 - j0)`` mask of the tile, or None when
        everything is allowed."""
        if self.trivial or self.full(i0, i1, j0, j1):
            return None
        pos = torch.arange(i0, i1, device=device)[:, None] + self.offset
        key = torch.arange(j0, j1, device=device)[None, :]
        allowed = torch.ones(i1 - i0, j1 - j0, dtype=torch.bool, device=device)
        if self.window is not None:
            allowed = (pos - key).abs() < self.window
            if self.is_global is not None:
                gq = self.is_global[(pos[:, 0]).clamp(0, self.n_k - 1)] & (
                    pos[:, 0] >= 0
                )
                allowed = (
                    allowed | self.is_global[j0:j1][None, :] | gq[:, None]
                )
        if self.causal:
            allowed = allowed & (key <= pos)
        return allowed

    def full(self, i0: int, i1: int, j0: int, j1: int) -> bool:
        """True when every pair in the tile is certainly allowed (no mask
        needed)."""
        lo, hi = i0 + self.offset, i1 - 1 + self.offset
        if self.causal and j1 - 1 > lo:
            return False
        if (
            self.window is not None
            and max(hi - j0, j1 - 1 - lo) >= self.window
        ):
            return False
        return lo >= 0 or not self.causal

    def needed(self, i0: int, i1: int, j0: int, j1: int) -> bool:
        """False when the tile is certainly all masked (so it can be
        skipped)."""
        lo, hi = (
            i0 + self.offset,
            i1 - 1 + self.offset,
        )  # positions of the tile's queries
        if self.causal and j0 > hi:
            return False
        if self.window is None:
            return True
        if j0 <= hi + self.window - 1 and j1 - 1 >= lo - self.window + 1:
            return True
        if self.is_global is None:
            return False
        if any(j0 <= g < j1 for g in self.global_list):  # a global key column
            return True
        return any(
            lo <= g <= hi for g in self.global_list
        )  # a global query row


def _expand_mask(
    mask: torch.Tensor | None, lead: tuple[int, ...], n_q: int, n_k: int
) -> torch.Tensor | None:
    # a view, no copy: lets every tile slice the mask as
    # mask[..., i0:i1, j0:j1]
    return None if mask is None else mask.expand(*lead, n_q, n_k)


def _tile_scores(q_blk, k_blk, scale, pattern, mask, i0, i1, j0, j1):
    s = q_blk @ k_blk.transpose(-2, -1)
    s.mul_(scale)
    if mask is not None:
        m = mask[..., i0:i1, j0:j1]
        if m.dtype == torch.bool:
            s.masked_fill_(~m, float("-inf"))
        else:
            s.add_(m.to(s.dtype))
    allowed = pattern.tile(i0, i1, j0, j1, s.device)
    if allowed is not None:
        s.masked_fill_(~allowed, float("-inf"))
    return s


def _tiled_forward(q, k, v, mask, scale, pattern, block_q, block_k):
    """Online softmax over key blocks. Returns (out, lse) with
    lse = log-sum-exp of each row's scores (-inf for a row with nothing
    allowed)."""
    n_q, n_k = q.shape[-2], k.shape[-2]
    out = torch.empty(
        *q.shape[:-1], v.shape[-1], dtype=q.dtype, device=q.device
    )
    lse = torch.empty(q.shape[:-1], dtype=q.dtype, device=q.device)
    for i0 in range(0, n_q, block_q):
        i1 = min(i0 + block_q, n_q)
        q_blk = q[..., i0:i1, :]
        m = torch.full(
            q_blk.shape[:-1], float("-inf"), dtype=q.dtype, device=q.device
        )  # running max
        row_sum = torch.zeros_like(m)  # running sum
        acc = torch.zeros(
            *q_blk.shape[:-1], v.shape[-1], dtype=q.dtype, device=q.device
        )  # running sum of p v
        for j0 in range(0, n_k, block_k):
            j1 = min(j0 + block_k, n_k)
            if not pattern.needed(i0, i1, j0, j1):
                continue
            s = _tile_scores(
                q_blk, k[..., j0:j1, :], scale, pattern, mask, i0, i1, j0, j1
            )
            m_new = torch.maximum(m, s.amax(dim=-1))
            m_safe = m_new.masked_fill(
                torch.isneginf(m_new), 0.0
            )  # rows with nothing allowed so far
            p = s.sub_(m_safe[..., None]).exp_()  # in place: no second tile
            alpha = torch.exp(m - m_safe)  # rescales the old sums
            row_sum = row_sum * alpha + p.sum(dim=-1)
            acc.mul_(alpha[..., None]).add_(p @ v[..., j0:j1, :])
            m = m_new
        dead = row_sum == 0
        out[..., i0:i1, :] = (
            acc / row_sum.masked_fill(dead, 1.0)[..., None]
        )  # dead rows: 0 / 1 = 0
        lse[..., i0:i1] = torch.where(
            dead, float("-inf"), m + torch.log(row_sum.masked_fill(dead, 1.0))
        )
    return out, lse


def _tiled_backward(
    q, k, v, out, lse, d_out, mask, scale, pattern, block_q, block_k
):
    """Gradients by recomputing each tile's probabilities from the saved
    log-sum-exp."""
    n_q, n_k = q.shape[-2], k.shape[-2]
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    delta = (d_out * out).sum(dim=-1)  # rowsum(dO * O)
    lse_safe = lse.masked_fill(
        torch.isneginf(lse), float("inf")
    )  # dead rows: p = exp(-inf) = 0
    for i0 in range(0, n_q, block_q):
        i1 = min(i0 + block_q, n_q)
        q_blk, do_blk = q[..., i0:i1, :], d_out[..., i0:i1, :]
        for j0 in range(0, n_k, block_k):
            j1 = min(j0 + block_k, n_k)
            if not pattern.needed(i0, i1, j0, j1):
                continue
            k_blk, v_blk = k[..., j0:j1, :], v[..., j0:j1, :]
            s = _tile_scores(
                q_blk, k_blk, scale, pattern, mask, i0, i1, j0, j1
            )
            p = s.sub_(
                lse_safe[..., i0:i1, None]
            ).exp_()  # the softmax weights of the tile
            dv[..., j0:j1, :] += p.transpose(-2, -1) @ do_blk
            dp = do_blk @ v_blk.transpose(-2, -1)
            ds = p.mul_(dp.sub_(delta[..., i0:i1, None])).mul_(
                scale
            )  # softmax backward, times scale
            dq[..., i0:i1, :] += ds @ k_blk
            dk[..., j0:j1, :] += ds.transpose(-2, -1) @ q_blk
    return dq, dk, dv


class _TiledAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, scale, pattern, block_q, block_k):
        out, lse = _tiled_forward(
            q, k, v, mask, scale, pattern, block_q, block_k
        )
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.mask, ctx.args = mask, (scale, pattern, block_q, block_k)
        return out

    @staticmethod
    def backward(ctx, d_out):
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = _tiled_backward(
            q, k, v, out, lse, d_out.contiguous(), ctx.mask, *ctx.args
        )
        return dq, dk, dv, None, None, None, None, None


def _run_tiled(q, k, v, mask, scale, pattern, block_q, block_k):
    if mask is not None and mask.dtype != torch.bool and mask.requires_grad:
        raise ValueError(
            "a float mask that requires grad is not supported by the tiled "
            "kernels (gradients flow to q, k and v only); detach it or use "
            "attnlib.functional.attention"
        )
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
        return _TiledAttention.apply(
            q, k, v, mask, scale, pattern, block_q, block_k
        )
    return _tiled_forward(q, k, v, mask, scale, pattern, block_q, block_k)[0]


def _prepare_mask(mask, q, n_q, n_k):
    check_same_device(q=q, mask=mask)
    check_mask("mask", mask, (*q.shape[:-2], n_q, n_k))
    return _expand_mask(mask, tuple(q.shape[:-2]), n_q, n_k)


def tiled_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    is_causal: bool = False,
    scale: float | None = None,
    block_q: int = 256,
    block_k: int = 512,
) -> torch.Tensor:
    """Exact attention, block by block, with an online softmax
    (FlashAttention's algorithm).

    Same result as
    ``attnlib.functional.attention(q, k, v, mask, is_causal=is_causal)[0]`` (up
    to float rounding), but only one ``(block_q, block_k)`` tile of scores
    exists at a time. Block sizes need not divide the lengths (the last block
    is smaller). With ``is_causal``, tiles above the diagonal are skipped.
    Differentiable: the backward pass recomputes each tile from the saved
    per-row log-sum-exp instead of storing the weights. Returns the output
    ``(..., n_q, d_v)`` (no weights: avoiding them is the point).
    """
    check_qkv(q, k, v)
    block_q, block_k = (
        _check_block("block_q", block_q),
        _check_block("block_k", block_k),
    )
    n_q, n_k = q.shape[-2], k.shape[-2]
    mask = _prepare_mask(mask, q, n_q, n_k)
    pattern = _Pattern(n_q, n_k, causal=bool(is_causal), device=q.device)
    return _run_tiled(
        q, k, v, mask, _scale(q, scale), pattern, block_q, block_k
    )


# -----------------------------------------------------------------------------
# local and local + global (sparse) attention
# -----------------------------------------------------------------------------
def _check_window(window) -> int:
    if not isinstance(window, int) or isinstance(window, bool) or window <= 0:
        raise ValueError(
            "window must be a positive int (query i sees keys j with "
            f"|i - j| < window), got {window!r}"
        )
    return window


def _check_global(global_tokens, n_k: int, device) -> torch.Tensor | None:
    if global_tokens is None:
        return None
    if isinstance(global_tokens, torch.Tensor):
        if (
            global_tokens.dtype.is_floating_point
            or global_tokens.dtype == torch.bool
            or global_tokens.dim() != 1
        ):
            raise TypeError(
                "global_tokens must be a 1-D integer tensor or a list of "
                f"ints, got dtype {global_tokens.dtype} and shape "
                f"{shape_str(global_tokens)}"
            )
        idx = global_tokens.to(device=device, dtype=torch.long)
    else:
        items = list(global_tokens)
        if not all(
            isinstance(i, int) and not isinstance(i, bool) for i in items
        ):
            raise TypeError(
                f"global_tokens must be a list of ints, got {items!r}"
            )
        idx = torch.tensor(items, dtype=torch.long, device=device)
    if idx.numel() and (idx.min() < 0 or idx.max() >= n_k):
        raise ValueError(
            f"global_tokens must be positions in [0, {n_k}), got min "
            f"{int(idx.min())}, max {int(idx.max())}"
        )
    return idx


def local_global_mask(
    n: int,
    window: int,
    *,
    causal: bool = False,
    global_tokens=None,
    n_k: int | None = None,
    device=None,
) -> torch.Tensor:
    """The sparse pattern as an explicit boolean ``(n, n_k)`` mask (True = may
    attend).

    Query ``i`` (at position ``i + n_k - n``) sees key ``j`` when
    ``|pos - j| < window``; a global token (a position listed in
    ``global_tokens``) sees every key and is seen by every query; ``causal``
    additionally forbids ``j > pos``. Use it as the reference for
    :func:`local_attention` with :func:`attnlib.functional.attention`.
    """
    n_k = n if n_k is None else n_k
    if (
        not isinstance(n, int)
        or n <= 0
        or not isinstance(n_k, int)
        or n_k <= 0
    ):
        raise ValueError(
            f"n and n_k must be positive ints, got {n!r} and {n_k!r}"
        )
    window = _check_window(window)
    idx = _check_global(global_tokens, n_k, device)
    pattern = _Pattern(
        n, n_k, causal=causal, window=window, global_idx=idx, device=device
    )
    return pattern.tile(0, n, 0, n_k, device)


def local_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    mask: torch.Tensor | None = None,
    *,
    is_causal: bool = False,
    global_tokens=None,
    scale: float | None = None,
    block_size: int = 256,
) -> torch.Tensor:
    """Sliding-window attention, optionally with global tokens (a sparse
    pattern).

    Query ``i`` attends to keys ``j`` with ``|i - j| < window`` (and ``j <= i``
    when ``is_causal``); positions in ``global_tokens`` attend to and are
    attended by everything. Exactly equal to
    ``attention(q, k, v, local_global_mask(...) & mask)``, but tiles outside
    the pattern are never computed: cost and memory ``O(n * window)`` plus the
    global rows/columns. A window at least as long as the sequence gives full
    attention.
    """
    check_qkv(q, k, v)
    window = _check_window(window)
    block_size = _check_block("block_size", block_size)
    n_q, n_k = q.shape[-2], k.shape[-2]
    mask = _prepare_mask(mask, q, n_q, n_k)
    idx = _check_global(global_tokens, n_k, q.device)
    pattern = _Pattern(
        n_q,
        n_k,
        causal=bool(is_causal),
        window=window,
        global_idx=idx,
        device=q.device,
    )
    return _run_tiled(
        q, k, v, mask, _scale(q, scale), pattern, block_size, block_size
    )


# -----------------------------------------------------------------------------
# linear attention
# -----------------------------------------------------------------------------
def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """``phi(x) = elu(x) + 1``: positive features, so ``phi(q) . phi(k) > 0``
    acts like ``exp(q . k)``."""
    return F.elu(x) + 1.0


def linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    is_causal: bool = False,
    key_padding_mask: torch.Tensor | None = None,
    feature_map: Callable[[torch.Tensor], torch.Tensor] = elu_feature_map,
    chunk_size: int = 128,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Kernelised (linear) attention: ``out_i = phi(q_i)^T S / (phi(q_i)^T z)``
    with ``S = sum_j phi(k_j) v_j^T`` and ``z = sum_j phi(k_j)`` (Katharopoulos
    et al., 2020).

    Non-causal: one ``(d, d_v)`` summary of all keys, cost ``O(n d d_v)``.
    Causal (``n_q == n_k`` required): the sums run over ``j <= i``; computed
    chunk by chunk (a small masked quadratic product inside each chunk of
    ``chunk_size`` positions plus the running ``S`` and ``z`` of the chunks
    before), so memory stays ``O(n d + chunk^2)`` rather than ``O(n d d_v)``
    for a full prefix sum. ``key_padding_mask`` (bool ``(..., n_k)``,
    True = real key) drops keys; a general ``(n_q, n_k)`` mask cannot be
    expressed in this form and is not accepted. A query with no key gets a zero
    output. This is *not* softmax attention: it equals
    ``masked_softmax(log(phi(q) phi(k)^T), mask) @ v``, i.e. softmax attention
    with the scores ``log(phi(q_i) . phi(k_j))``.
    """
    check_qkv(q, k, v)
    chunk_size = _check_block("chunk_size", chunk_size)
    n_q, n_k = q.shape[-2], k.shape[-2]
    if is_causal and n_q != n_k:
        raise ValueError(
            f"causal linear attention needs n_q == n_k, got q {shape_str(q)} "
            f"and k {shape_str(k)}"
        )
    fq, fk = feature_map(q), feature_map(k)
    if fq.shape != q.shape or fk.shape != k.shape:
        raise ValueError("feature_map must keep the shape of its input")
    if key_padding_mask is not None:
        check_tensor("key_padding_mask", key_padding_mask, min_dim=1)
        check_same_device(q=q, key_padding_mask=key_padding_mask)
        if key_padding_mask.dtype != torch.bool:
            raise TypeError(
                "key_padding_mask must be a bool tensor (True = real key), "
                f"got {key_padding_mask.dtype}"
            )
        want = (*k.shape[:-2], n_k)
        check_mask("key_padding_mask", key_padding_mask, want)
        if key_padding_mask.shape[-1] != n_k:
            raise ValueError(
                f"key_padding_mask must broadcast to (..., n_k) = {want}, got "
                f"{shape_str(key_padding_mask)}"
            )
        fk = fk * key_padding_mask[..., None].to(fk.dtype)
    if not is_causal:
        kv = fk.transpose(-2, -1) @ v  # (..., d, d_v)
        num = fq @ kv  # (..., n_q, d_v)
        den = fq @ fk.sum(dim=-2)[..., None]  # (..., n_q, 1)
        return num / den.clamp_min(eps)
    outs = []
    state = torch.zeros(
        *q.shape[:-2], q.shape[-1], v.shape[-1], dtype=q.dtype, device=q.device
    )
    z = torch.zeros(
        *q.shape[:-2], q.shape[-1], 1, dtype=q.dtype, device=q.device
    )
    for c0 in range(0, n_q, chunk_size):
        c1 = min(c0 + chunk_size, n_q)
        fq_c, fk_c, v_c = (
            fq[..., c0:c1, :],
            fk[..., c0:c1, :],
            v[..., c0:c1, :],
        )
        w = (fq_c @ fk_c.transpose(-2, -1)).tril()  # within the chunk: j <= i
        num = fq_c @ state + w @ v_c
        den = fq_c @ z + w.sum(dim=-1, keepdim=True)
        outs.append(num / den.clamp_min(eps))
        state = (
            state + fk_c.transpose(-2, -1) @ v_c
        )  # then add the chunk to the sums
        z = z + fk_c.sum(dim=-2)[..., None]
    return torch.cat(outs, dim=-2)


# -----------------------------------------------------------------------------
# measuring memory
# -----------------------------------------------------------------------------
def peak_memory(fn: Callable[[], object]) -> tuple[int, object]:
    """Run ``fn()`` once under the PyTorch profiler and return
    ``(peak_bytes, result)``.

    ``peak_bytes`` is the largest amount of memory that torch's allocator held
    *in addition* to what it held when ``fn`` started, at any moment during the
    call (the result included, since it is allocated during the call). It is
    computed from the profiler's allocation events (``profile_memory=True``):
    each event carries the signed size of one allocation or free, and the
    running sum of those sizes, in time order, is the extra memory in use.
    Python objects and memory outside torch's allocator are not counted;
    ``tracemalloc`` would not see torch's tensors at all, which is why the
    profiler is used.
    """
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + (
        [ProfilerActivity.CUDA] if torch.cuda.is_available() else []
    )
    with (
        _quiet_stderr(),
        profile(activities=activities, profile_memory=True) as prof,
    ):
        result = fn()
    sizes = _allocation_events(prof)
    current = peak = 0
    for _, size in sorted(sizes, key=lambda t: t[0]):
        current += size
        peak = max(peak, current)
    return peak, result


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the profiler's start/stop lines, which some builds print from
    C++ to file descriptor 2."""
    try:
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except (
        OSError
    ):  # no file descriptor 2 (unusual embedding): nothing to silence
        yield
        return
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _allocation_events(prof) -> list[tuple[int, int]]:
    """``(time, signed bytes)`` of every allocation and free the profiler
    saw."""
    try:  # the raw allocator events: one per malloc / free, exact
        from torch._C._profiler import _EventType

        def walk(events):
            for e in events:
                yield e
                yield from walk(e.children)

        tree = prof.profiler.kineto_results.experimental_event_tree()
        return [
            (e.start_time_ns, int(e.extra_fields.alloc_size))
            for e in walk(tree)
            if e.tag == _EventType.Allocation
        ]
    except (
        ImportError,
        AttributeError,
    ):  # older/newer torch: per-operator totals (frees inside an op net out)
        sizes = []
        for e in prof.events():
            if e.name == "[memory]":
                sizes.append(
                    (
                        e.time_range.start,
                        e.cpu_memory_usage + e.device_memory_usage,
                    )
                )
            elif e.self_cpu_memory_usage or e.self_device_memory_usage:
                sizes.append(
                    (
                        e.time_range.start,
                        e.self_cpu_memory_usage + e.self_device_memory_usage,
                    )
                )
        return sizes
