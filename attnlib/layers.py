"""Attention layers: multi-head attention, additive attention, positional
encodings.

All layers are batch-first: sequences are ``(batch, n, d_model)``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validate import (
    check_heads_divide,
    check_mask,
    check_positive_int,
    check_same_device,
    check_tensor,
    shape_str,
)
from .functional import (
    additive_scores,
    attention,
    causal_mask,
    combine_masks,
    masked_softmax,
)

__all__ = [
    "MultiHeadAttention",
    "KVCache",
    "AdditiveAttention",
    "sinusoidal_encoding",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEmbedding",
    "RotaryEmbedding",
]


Kernel = Callable[..., torch.Tensor]
"""``kernel(q, k, v, *, is_causal) -> out``, all ``(batch, heads, n, d)``."""


def _check_kernel(kernel):
    if kernel is not None and not callable(kernel):
        raise TypeError(
            "kernel must be a function kernel(q, k, v, *, is_causal) -> out, "
            f"got {type(kernel).__name__}"
        )
    return kernel


class KVCache:
    """The keys and values one attention layer has seen so far:
    ``(batch, heads, t, head_dim)`` each.

    Preallocated for ``capacity`` positions, so appending a step writes into
    the buffers instead of concatenating (which would copy the whole cache
    every step). A model keeps one per layer (``CausalLM.new_cache``).
    """

    def __init__(
        self,
        batch: int,
        heads: int,
        head_dim: int,
        capacity: int,
        *,
        dtype=torch.float32,
        device=None,
    ):
        for name, value in (
            ("batch", batch),
            ("heads", heads),
            ("head_dim", head_dim),
            ("capacity", capacity),
        ):
            check_positive_int(name, value)
        shape = (batch, heads, capacity, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.length, self.capacity = 0, capacity

    def append(
        self, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k``, ``v`` ``(batch, heads, t_new, head_dim)`` after the
        cached positions and return all keys and values so far."""
        t0, t1 = self.length, self.length + k.shape[-2]
        if t1 > self.capacity:
            raise ValueError(
                f"the cache holds {self.capacity} positions; cannot append "
                f"{k.shape[-2]} after {self.length}"
            )
        if (
            k.shape != v.shape
            or k.shape[:2] != self.k.shape[:2]
            or k.shape[-1] != self.k.shape[-1]
        ):
            raise ValueError(
                "k and v must be (batch, heads, t_new, head_dim) = "
                f"{tuple(self.k.shape[:2])} + (t_new, {self.k.shape[-1]}), "
                f"got {shape_str(k)} and {shape_str(v)}"
            )
        self.k[:, :, t0:t1] = k
        self.v[:, :, t0:t1] = v
        self.length = t1
        return self.k[:, :, :t1], self.v[:, :, :t1]

    def nbytes(self) -> int:
        """Bytes held (keys and values, at full capacity)."""
        return sum(t.numel() * t.element_size() for t in (self.k, self.v))


class MultiHeadAttention(nn.Module):
    """Multi-head attention, batch-first, for self- and cross-attention.

    ``forward(query, key=None, value=None, ...)``: with ``key``/``value``
    omitted it is self-attention. ``query`` is ``(batch, n_q, d_model)``;
    ``key`` ``(batch, n_k, kdim)``; ``value`` ``(batch, n_k, vdim)``.

    Two code paths compute the same thing (tested equal):

    * ``need_weights=True``: the explicit, teachable path through
      :func:`attnlib.functional.attention`, returning the weights
      ``(batch, heads, n_q, n_k)`` (or averaged over heads).
    * ``need_weights=False``: PyTorch's fused
      ``scaled_dot_product_attention`` kernel, which never materialises the
      weights and is faster.

    The layer owns two more choices, both optional:

    * ``kernel``: a function ``kernel(q, k, v, *, is_causal) -> out`` on
      ``(batch, heads, n, head_dim)`` tensors that replaces the built-in
      attention (given to the constructor, or to one ``forward`` call). The
      kernels of :mod:`attnlib.efficient` (``tiled_attention``,
      ``linear_attention``, ``functools.partial(local_attention,
      window=32)``) fit as they are. A kernel sees no mask but causality.
    * ``cache``: a :class:`KVCache`; the new keys and values are appended to
      it and the queries attend to every position it holds (a causal query
      sees the cached past and the new positions up to its own).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        *,
        dropout: float = 0.0,
        bias: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
        kernel: Kernel | None = None,
    ):
        super().__init__()
        if not isinstance(d_model, int) or d_model <= 0:
            raise ValueError(
                f"d_model must be a positive int, got {d_model!r}"
            )
        if not isinstance(num_heads, int) or num_heads <= 0:
            raise ValueError(
                f"num_heads must be a positive int, got {num_heads!r}"
            )
        check_heads_divide(d_model, num_heads)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.d_model, self.num_heads, self.head_dim = (
            d_model,
            num_heads,
            d_model // num_heads,
        )
        self.kdim, self.vdim = kdim or d_model, vdim or d_model
        self.dropout = dropout
        self.kernel = _check_kernel(kernel)
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(self.kdim, d_model, bias=bias)
        self.v_proj = nn.Linear(self.vdim, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    # -- helpers -----------------------------------------------------------
    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, n, d_model)`` -> ``(batch, heads, n, head_dim)``: one
        slice of features per head."""
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, heads, n, head_dim)`` -> ``(batch, n, d_model)``: the
        inverse of :meth:`split_heads`."""
        b, h, n, dh = x.shape
        return x.transpose(1, 2).reshape(b, n, h * dh)

    def _check(self, query, key, value, key_padding_mask, attn_mask):
        check_tensor("query", query, ndim=3, floating=True)
        check_tensor("key", key, ndim=3, floating=True)
        check_tensor("value", value, ndim=3, floating=True)
        check_same_device(
            query=query,
            key=key,
            value=value,
            key_padding_mask=key_padding_mask,
            attn_mask=attn_mask,
            weights=self.q_proj.weight,
        )
        b, n_q, d = query.shape
        if d != self.d_model:
            raise ValueError(
                f"query must be (batch, n_q, {self.d_model}), got "
                f"{shape_str(query)}"
            )
        if key.shape[-1] != self.kdim:
            raise ValueError(
                f"key must be (batch, n_k, {self.kdim}), got {shape_str(key)}"
            )
        if value.shape[-1] != self.vdim:
            raise ValueError(
                f"value must be (batch, n_k, {self.vdim}), got "
                f"{shape_str(value)}"
            )
        if key.shape[0] != b or value.shape[0] != b:
            raise ValueError(
                f"query, key and value must share the batch size, got "
                f"{shape_str(query)}, {shape_str(key)}, {shape_str(value)}"
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                f"key and value must hold the same number of positions, got "
                f"{shape_str(key)} and {shape_str(value)}"
            )
        if n_q == 0 or key.shape[1] == 0:
            raise ValueError(
                "query and key need at least one position, got "
                f"{shape_str(query)} and {shape_str(key)}"
            )
        n_k = key.shape[1]
        if key_padding_mask is not None:
            check_tensor("key_padding_mask", key_padding_mask, ndim=2)
            if key_padding_mask.dtype != torch.bool:
                raise TypeError(
                    "key_padding_mask must be a bool tensor (True = real "
                    f"token), got dtype {key_padding_mask.dtype}"
                )
            if tuple(key_padding_mask.shape) != (b, n_k):
                raise ValueError(
                    f"key_padding_mask must be (batch, n_k) = ({b}, {n_k}), "
                    f"got {shape_str(key_padding_mask)}"
                )
        if attn_mask is not None:
            check_tensor("attn_mask", attn_mask, ndim=(2, 3, 4))
            check_mask("attn_mask", attn_mask, (b, self.num_heads, n_q, n_k))

    def build_mask(
        self,
        n_q: int,
        n_k: int,
        *,
        key_padding_mask=None,
        attn_mask=None,
        is_causal=False,
        device=None,
    ) -> torch.Tensor | None:
        """The one mask, broadcastable to ``(batch, heads, n_q, n_k)``, that
        both paths use."""
        kpm = (
            None
            if key_padding_mask is None
            else key_padding_mask[:, None, None, :]
        )
        if (
            attn_mask is not None and attn_mask.dim() == 3
        ):  # (batch, n_q, n_k): same for every head
            attn_mask = attn_mask[:, None]
        causal = causal_mask(n_q, n_k, device=device) if is_causal else None
        return combine_masks(attn_mask, kpm, causal)

    # -- forward -----------------------------------------------------------
    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        average_attn_weights: bool = True,
        kernel: Kernel | None = None,
        cache: KVCache | None = None,
    ):
        """Return ``(output (batch, n_q, d_model), weights or None)``.

        ``key_padding_mask``: bool ``(batch, n_k)``, True = real token.
        ``attn_mask``: bool (True = may attend) or float (added), shaped
        ``(n_q, n_k)``, ``(batch, n_q, n_k)`` or ``(batch, heads, n_q, n_k)``.
        ``is_causal``: query ``i`` sees keys ``<= i``.
        ``kernel``: for this call, instead of the layer's own.
        ``cache``: a :class:`KVCache` that holds the keys and values of the
        earlier positions (self-attention); the new ones are appended.
        """
        key = query if key is None else key
        value = key if value is None else value
        self._check(query, key, value, key_padding_mask, attn_mask)
        kernel = self.kernel if kernel is None else _check_kernel(kernel)
        if kernel is not None and (
            need_weights
            or key_padding_mask is not None
            or attn_mask is not None
        ):
            raise ValueError(
                "a kernel sees only is_causal: call without key_padding_mask, "
                "attn_mask and need_weights, or without the kernel"
            )
        q = self.split_heads(self.q_proj(query))
        k = self.split_heads(self.k_proj(key))
        v = self.split_heads(self.v_proj(value))
        if cache is not None:
            if not isinstance(cache, KVCache):
                raise TypeError(
                    f"cache must be a KVCache, got {type(cache).__name__}"
                )
            k, v = cache.append(k, v)
        n_q, n_k = q.shape[-2], k.shape[-2]
        if kernel is not None:
            if is_causal and 1 < n_q < n_k:
                raise ValueError(
                    "a kernel with a cache takes one new position at a time "
                    f"(or the whole prompt), got {n_q} after {n_k - n_q}"
                )
            out = kernel(q, k, v, is_causal=is_causal and n_q > 1)
            return self.out_proj(self.merge_heads(out)), None
        mask = self.build_mask(
            n_q,
            n_k,
            key_padding_mask=key_padding_mask,
            attn_mask=attn_mask,
            # one new query sees every cached key: no mask to build
            is_causal=is_causal and n_q > 1,
            device=query.device,
        )
        p = self.dropout if self.training else 0.0
        if need_weights:
            out, weights = attention(
                q, k, v, mask, dropout_p=p, training=self.training
            )
            if average_attn_weights:
                weights = weights.mean(dim=1)
        else:
            out, weights = self._fused(q, k, v, mask, p), None
        return self.out_proj(self.merge_heads(out)), weights

    @staticmethod
    def _fused(q, k, v, mask, p):
        """SDPA, with fully masked query rows given zeros (as the explicit path
        does)."""
        if mask is None:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        allowed = mask if mask.dtype == torch.bool else ~torch.isneginf(mask)
        dead = ~allowed.any(dim=-1, keepdim=True)
        if dead.any():
            # Let dead rows attend everywhere (finite), then zero them below.
            mask = (
                mask | dead
                if mask.dtype == torch.bool
                else mask.masked_fill(dead, 0.0)
            )
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=p
            )
            return out.masked_fill(dead, 0.0)
        if mask.dtype != torch.bool:
            mask = mask.to(q.dtype)
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=p
        )

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> "MultiHeadAttention":
        """Copy the weights of a batch-first
        ``torch.nn.MultiheadAttention``."""
        if not isinstance(mha, nn.MultiheadAttention):
            raise TypeError(
                "mha must be torch.nn.MultiheadAttention, got "
                f"{type(mha).__name__}"
            )
        if not mha.batch_first:
            raise ValueError("mha must be built with batch_first=True")
        if mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError("add_bias_kv / add_zero_attn are not supported")
        has_bias = mha.in_proj_bias is not None
        new = cls(
            mha.embed_dim,
            mha.num_heads,
            dropout=mha.dropout,
            bias=has_bias,
            kdim=mha.kdim,
            vdim=mha.vdim,
        )
        new = new.to(
            device=mha.out_proj.weight.device, dtype=mha.out_proj.weight.dtype
        )
        d = mha.embed_dim
        with torch.no_grad():
            if mha._qkv_same_embed_dim:
                wq, wk, wv = mha.in_proj_weight.split(d, dim=0)
            else:
                wq, wk, wv = (
                    mha.q_proj_weight,
                    mha.k_proj_weight,
                    mha.v_proj_weight,
                )
            for lin, w in (
                (new.q_proj, wq),
                (new.k_proj, wk),
                (new.v_proj, wv),
            ):
                lin.weight.copy_(w)
            new.out_proj.weight.copy_(mha.out_proj.weight)
            if has_bias:
                for lin, bb in zip(
                    (new.q_proj, new.k_proj, new.v_proj),
                    mha.in_proj_bias.split(d),
                ):
                    lin.bias.copy_(bb)
                new.out_proj.bias.copy_(mha.out_proj.bias)
        return new


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention:
    ``score(q, k) = w_v . tanh(W_q q + W_k k)``.

    Queries and keys may have different sizes; ``forward(q, k, v, mask)``
    takes ``(batch, n_q, query_dim)``, ``(batch, n_k, key_dim)``,
    ``(batch, n_k, d_v)`` and returns ``(output, weights)``.
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int):
        super().__init__()
        for name, val in (
            ("query_dim", query_dim),
            ("key_dim", key_dim),
            ("hidden_dim", hidden_dim),
        ):
            check_positive_int(name, val)
        self.w_q = nn.Linear(query_dim, hidden_dim, bias=False)
        self.w_k = nn.Linear(key_dim, hidden_dim, bias=False)
        self.w_v = nn.Linear(hidden_dim, 1, bias=False)

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
    ):
        check_tensor("v", v, min_dim=2, floating=True)
        scores = additive_scores(
            q, k, self.w_q.weight, self.w_k.weight, self.w_v.weight[0]
        )
        if v.shape[:-1] != k.shape[:-1]:
            raise ValueError(
                f"v must be {shape_str(k)[:-1].rsplit(',', 1)[0]}, d_v) to "
                f"match k, got {shape_str(v)}"
            )
        weights = masked_softmax(scores, mask)
        return weights @ v, weights


# -- positional encodings -----------------------------------------------------


def sinusoidal_encoding(n: int, d: int, base: float = 10000.0) -> torch.Tensor:
    """The fixed sinusoidal table ``(n, d)`` of Vaswani et al. (2017).

    Even columns hold ``sin(pos / base^(2i/d))``, odd columns the matching
    cosine.
    """
    if n < 0 or d <= 0 or d % 2:
        raise ValueError(f"need n >= 0 and an even d > 0, got n={n}, d={d}")
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(
        -math.log(base) * torch.arange(0, d, 2, dtype=torch.float32) / d
    )
    table = torch.zeros(n, d)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the sinusoidal table to ``(batch, n, d_model)`` inputs (no
    parameters)."""

    def __init__(
        self, d_model: int, max_len: int = 4096, dropout: float = 0.0
    ):
        super().__init__()
        self.register_buffer(
            "table", sinusoidal_encoding(max_len, d_model), persistent=False
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        check_tensor("x", x, ndim=3, floating=True)
        n, d = x.shape[1], x.shape[2]
        if d != self.table.shape[1]:
            raise ValueError(
                f"x must be (batch, n, {self.table.shape[1]}), got "
                f"{shape_str(x)}"
            )
        if offset + n > self.table.shape[0]:
            raise ValueError(
                f"sequence of length {n} at offset {offset} exceeds "
                f"max_len={self.table.shape[0]}"
            )
        return self.drop(x + self.table[offset : offset + n].to(x.dtype))


class LearnedPositionalEmbedding(nn.Module):
    """A trainable vector per position (BERT, GPT-2), added to the inputs."""

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0):
        super().__init__()
        self.emb = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.emb.weight, std=0.02)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        check_tensor("x", x, ndim=3, floating=True)
        n = x.shape[1]
        if x.shape[2] != self.emb.embedding_dim:
            raise ValueError(
                f"x must be (batch, n, {self.emb.embedding_dim}), got "
                f"{shape_str(x)}"
            )
        if offset + n > self.emb.num_embeddings:
            raise ValueError(
                f"sequence of length {n} at offset {offset} exceeds "
                f"max_len={self.emb.num_embeddings}"
            )
        pos = torch.arange(offset, offset + n, device=x.device)
        return self.drop(x + self.emb(pos))


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE, Su et al. 2021) for queries and keys.

    Rotates each pair of features ``(x_{2i}, x_{2i+1})`` by the angle
    ``pos * base^(-2i/d)``, so that ``q_m . k_n`` depends only on ``m - n``.
    ``forward(x, offset=0)`` takes ``(..., n, head_dim)``.
    """

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim <= 0 or head_dim % 2:
            raise ValueError(
                f"head_dim must be even and positive, got {head_dim}"
            )
        inv_freq = base ** (
            -torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim
        )
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.head_dim = head_dim

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        check_tensor("x", x, min_dim=2, floating=True)
        if x.shape[-1] != self.head_dim:
            raise ValueError(
                f"x must be (..., n, {self.head_dim}), got {shape_str(x)}"
            )
        n = x.shape[-2]
        angles = (
            torch.arange(
                offset, offset + n, device=x.device, dtype=torch.float32
            )[:, None]
            * self.inv_freq
        )
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
        return out.flatten(-2)
