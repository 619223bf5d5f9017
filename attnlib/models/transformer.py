"""The Transformer (Vaswani et al., 2017), small and readable.

* :class:`FeedForward`, :class:`EncoderBlock`, :class:`DecoderBlock`: the
  blocks, each in a pre-norm (``norm_first=True``, GPT-2 and most modern
  models) or post-norm (the 2017 paper, BERT) variant.
* :class:`TransformerConfig`: one small dataclass for every model.
* :class:`CausalLM`: decoder-only language model (GPT-style), with
  :meth:`CausalLM.generate` (temperature and top-k sampling).
* :class:`EncoderDecoder`: the original encoder–decoder for
  sequence-to-sequence tasks, with greedy decoding.

Every forward takes ``need_weights=True`` to also return the attention weights
of every layer and head, for plotting.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .._validate import (
    check_tensor,
    check_token_ids,
    shape_str,
)
from ..device import evaluating
from ..layers import (
    Kernel,
    KVCache,
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    SinusoidalPositionalEncoding,
)
from .contract import (
    ModelOutput,
    TeacherForcedLoss,
    check_config,
    check_max_new_tokens,
    decode_until_eos,
    sample_next,
    token_cross_entropy,
)

__all__ = [
    "TransformerConfig",
    "FeedForward",
    "EncoderBlock",
    "DecoderBlock",
    "CausalLM",
    "EncoderDecoder",
    "sample_next",
]

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


@dataclass
class TransformerConfig:
    """Sizes and switches of a Transformer.

    ``num_layers`` is the number of encoder blocks (or of decoder blocks in a
    :class:`CausalLM`); ``num_decoder_layers`` defaults to it. ``d_ff``
    defaults to ``4 * d_model``.
    """

    vocab_size: int
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 2
    num_decoder_layers: int | None = None
    d_ff: int | None = None
    max_len: int = 256
    dropout: float = 0.0
    norm_first: bool = True
    activation: str = "gelu"
    positional: str = "learned"  # "learned" or "sinusoidal"
    layer_norm_eps: float = 1e-5
    tie_embeddings: bool = True
    pad_id: int | None = None
    bos_id: int | None = None  # needed by EncoderDecoder.generate
    eos_id: int | None = None

    def __post_init__(self):
        check_config(self, positive=("vocab_size",))
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got "
                f"{self.activation!r}"
            )
        if self.positional not in ("learned", "sinusoidal"):
            raise ValueError(
                "positional must be 'learned' or 'sinusoidal', got "
                f"{self.positional!r}"
            )
        if self.num_decoder_layers is None:
            self.num_decoder_layers = self.num_layers


class FeedForward(nn.Module):
    """The position-wise network ``W_2 act(W_1 x)``, applied to every position
    alone."""

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "gelu",
    ):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.act = _ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(self.act(self.linear1(x))))


class EncoderBlock(nn.Module):
    """Self-attention then feed-forward, each added back to its input (the
    residual connection) with a LayerNorm: on the sublayer's input in the
    pre-norm block (``norm_first=True``), on the sum in the post-norm block.

    The same block with ``is_causal=True`` is the decoder-only (GPT) block.
    ``forward`` returns ``(x, weights)``; weights are ``(batch, heads, n, n)``
    when ``need_weights`` else None.
    """

    cross_attention = False

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        *,
        dropout: float = 0.0,
        norm_first: bool = True,
        activation: str = "gelu",
        layer_norm_eps: float = 1e-5,
    ):
        super().__init__()
        self.norm_first = norm_first
        # (built in this order so that a seed draws the same initial weights
        # and parameters() lists them in the same order in both blocks)
        self.self_attn = MultiHeadAttention(
            d_model, num_heads, dropout=dropout
        )
        if self.cross_attention:  # DecoderBlock
            self.cross_attn = MultiHeadAttention(
                d_model, num_heads, dropout=dropout
            )
        self.ff = FeedForward(d_model, d_ff, dropout, activation)
        self.norm_attn = nn.LayerNorm(d_model, eps=layer_norm_eps)
        if self.cross_attention:
            self.norm_cross_attn = nn.LayerNorm(d_model, eps=layer_norm_eps)
            self.drop_cross_attn = nn.Dropout(dropout)
        self.norm_ff = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.drop_attn = nn.Dropout(dropout)
        self.drop_ff = nn.Dropout(dropout)

    @classmethod
    def from_config(cls, cfg, **overrides):
        """A block sized by any attnlib config: the shared field names
        (``d_model``, ``num_heads``, ``d_ff`` and, where the config has them,
        ``dropout``, ``norm_first``, ``activation``, ``layer_norm_eps``) make
        this one function for every model."""
        options = {
            name: getattr(cfg, name)
            for name in (
                "dropout",
                "norm_first",
                "activation",
                "layer_norm_eps",
            )
            if hasattr(cfg, name)
        }
        options.update(overrides)
        return cls(cfg.d_model, cfg.num_heads, cfg.d_ff, **options)

    def forward(
        self,
        x: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        kernel: Kernel | None = None,
        cache: KVCache | None = None,
    ):
        """``kernel`` and ``cache`` go to the self-attention (see
        :class:`~attnlib.layers.MultiHeadAttention`): how another attention
        kernel or a KV cache runs inside a trained block."""
        kw = dict(
            key_padding_mask=key_padding_mask,
            attn_mask=attn_mask,
            is_causal=is_causal,
            need_weights=need_weights,
            average_attn_weights=False,
            kernel=kernel,
            cache=cache,
        )
        if self.norm_first:  # pre-norm (GPT-2 and later)
            a, w = self.self_attn(self.norm_attn(x), **kw)
            x = x + self.drop_attn(a)
            x = x + self.drop_ff(self.ff(self.norm_ff(x)))
        else:  # post-norm (the 2017 paper, BERT)
            a, w = self.self_attn(x, **kw)
            x = self.norm_attn(x + self.drop_attn(a))
            x = self.norm_ff(x + self.drop_ff(self.ff(x)))
        return x, w


class DecoderBlock(EncoderBlock):
    """Masked self-attention, cross-attention to the encoder's output,
    feed-forward; each with a residual connection and a LayerNorm, placed as
    in :class:`EncoderBlock` (whose parts it inherits: ``self_attn``,
    ``norm_attn``, ``ff``, ``norm_ff``).

    Queries of the cross-attention come from the decoder, keys and values from
    the encoder's ``memory``. Returns ``(x, (self_weights, cross_weights))``.
    """

    cross_attention = True  # EncoderBlock adds cross_attn and its norm

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        memory_key_padding_mask: torch.Tensor | None = None,
        is_causal: bool = True,
        need_weights: bool = False,
    ):
        self_kw = dict(
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            need_weights=need_weights,
            average_attn_weights=False,
        )
        cross_kw = dict(
            key_padding_mask=memory_key_padding_mask,
            need_weights=need_weights,
            average_attn_weights=False,
        )
        if self.norm_first:  # pre-norm
            a, w_self = self.self_attn(self.norm_attn(x), **self_kw)
            x = x + self.drop_attn(a)
            h = self.norm_cross_attn(x)
            a, w_cross = self.cross_attn(h, memory, **cross_kw)
            x = x + self.drop_cross_attn(a)
            x = x + self.drop_ff(self.ff(self.norm_ff(x)))
        else:  # post-norm
            a, w_self = self.self_attn(x, **self_kw)
            x = self.norm_attn(x + self.drop_attn(a))
            a, w_cross = self.cross_attn(x, memory, **cross_kw)
            x = self.norm_cross_attn(x + self.drop_cross_attn(a))
            x = self.norm_ff(x + self.drop_ff(self.ff(x)))
        return x, (w_self, w_cross)


class _Embedding(nn.Module):
    """Token embedding (scaled by sqrt(d) for sinusoidal positions) plus
    positions."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.tok = nn.Embedding(
            cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_id
        )
        nn.init.normal_(self.tok.weight, std=0.02)
        if cfg.pad_id is not None:
            with torch.no_grad():
                self.tok.weight[cfg.pad_id].zero_()
        if cfg.positional == "learned":
            self.pos, self.scale = (
                LearnedPositionalEmbedding(cfg.max_len, cfg.d_model),
                1.0,
            )
        else:
            self.pos, self.scale = (
                SinusoidalPositionalEncoding(cfg.d_model, cfg.max_len),
                cfg.d_model**0.5,
            )
        self.drop = nn.Dropout(cfg.dropout)
        self.vocab_size, self.max_len = cfg.vocab_size, cfg.max_len

    def forward(
        self, idx: torch.Tensor, name: str = "idx", offset: int = 0
    ) -> torch.Tensor:
        check_token_ids(
            name,
            idx,
            vocab_size=self.vocab_size,
            max_len=self.max_len - offset,
        )
        x = self.tok(idx) * self.scale
        return self.drop(self.pos(x, offset=offset))


class CausalLM(nn.Module):
    """Decoder-only language model: embeddings, causal blocks, a final norm, a
    head.

    ``forward(idx)`` maps ``(batch, n)`` token ids to ``(batch, n, vocab)``
    logits, position ``t`` predicting token ``t + 1``; with
    ``need_weights=True`` it returns ``ModelOutput(logits, [weights per
    layer])``. ``kernel`` swaps the attention of every layer (chapter 11);
    ``cache`` (from :meth:`new_cache`) holds the keys and values of the
    positions already seen, so ``idx`` holds only the new ones.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = _Embedding(cfg)
        self.blocks = nn.ModuleList(
            EncoderBlock.from_config(cfg) for _ in range(cfg.num_layers)
        )
        self.norm = (
            nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
            if cfg.norm_first
            else nn.Identity()
        )
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.embed.tok.weight

    def forward(
        self,
        idx: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = False,
        kernel: Kernel | None = None,
        cache: list[KVCache] | None = None,
    ):
        if cache is not None and (
            len(cache) != len(self.blocks)
            or not all(isinstance(c, KVCache) for c in cache)
        ):
            raise ValueError(
                f"cache must hold one KVCache per layer ({len(self.blocks)});"
                " make it with model.new_cache(batch)"
            )
        offset = 0 if cache is None else cache[0].length
        x = self.embed(idx, offset=offset)
        weights = []
        for i, block in enumerate(self.blocks):
            x, w = block(
                x,
                key_padding_mask=key_padding_mask,
                is_causal=True,
                need_weights=need_weights,
                kernel=kernel,
                cache=None if cache is None else cache[i],
            )
            weights.append(w)
        logits = self.head(self.norm(x))
        return ModelOutput(logits, weights) if need_weights else logits

    def loss(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor,
        ignore_index: int = -100,
    ) -> torch.Tensor:
        """Mean cross-entropy (nats per token) of predicting ``targets`` from
        ``idx``: ``targets[:, t]`` is the token after ``idx[:, t]`` (the
        batches are shifted by the data pipeline)."""
        return token_cross_entropy(
            self(idx), targets, inputs=idx, ignore_index=ignore_index
        )

    def new_cache(self, batch: int, capacity: int | None = None):
        """One empty :class:`~attnlib.layers.KVCache` per layer, for
        ``capacity`` positions (default ``max_len``)."""
        mha = self.blocks[0].self_attn
        return [
            KVCache(
                batch,
                mha.num_heads,
                mha.head_dim,
                capacity or self.cfg.max_len,
                dtype=self.head.weight.dtype,
                device=self.head.weight.device,
            )
            for _ in self.blocks
        ]

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = False,
    ) -> torch.Tensor:
        """Append ``max_new_tokens`` sampled tokens to ``idx`` (cropping the
        context to ``max_len``).

        ``use_cache=True`` gives the same tokens (same sampling calls) with a
        KV cache: the prompt is run once (the *prefill*) and its keys and
        values kept; then each step feeds only the newest token. Positions
        are absolute, so once the sequence outgrows ``max_len`` the window
        slides, every cached key is stale, and the window is recomputed as
        without the cache.
        """
        check_tensor("idx", idx, ndim=2)
        check_max_new_tokens(max_new_tokens)
        if idx.shape[1] == 0:
            raise ValueError(
                f"idx must hold at least one token, got shape {shape_str(idx)}"
            )
        max_len, cache = self.cfg.max_len, None
        with evaluating(self):
            for _ in range(max_new_tokens):
                if not use_cache or idx.shape[1] > max_len:
                    logits = self(idx[:, -max_len:])[:, -1]  # recompute
                elif cache is None:  # prefill: the whole prompt at once
                    cache = self.new_cache(idx.shape[0])
                    logits = self(idx, cache=cache)[:, -1]
                else:  # decode: only the newest token
                    logits = self(idx[:, -1:], cache=cache)[:, -1]
                nxt = sample_next(
                    logits,
                    temperature=temperature,
                    top_k=top_k,
                    generator=generator,
                )
                idx = torch.cat([idx, nxt], dim=1)
        return idx


class EncoderDecoder(TeacherForcedLoss, nn.Module):
    """The encoder–decoder Transformer for sequence-to-sequence tasks.

    ``forward(src, tgt_in)`` returns ``(batch, n_tgt, vocab)`` logits; source
    and target share one vocabulary and one embedding table. Padding masks
    are derived from ``cfg.pad_id`` when it is set. With
    ``need_weights=True``: ``ModelOutput(logits, weights)`` where
    ``weights`` holds three lists of per-layer ``(batch, heads, queries,
    keys)`` maps: ``"encoder"``, ``"decoder"`` (masked self-attention) and
    ``"cross"``.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = _Embedding(cfg)
        self.encoder = nn.ModuleList(
            EncoderBlock.from_config(cfg) for _ in range(cfg.num_layers)
        )
        self.decoder = nn.ModuleList(
            DecoderBlock.from_config(cfg)
            for _ in range(cfg.num_decoder_layers)
        )
        make_norm = (
            (lambda: nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps))
            if cfg.norm_first
            else nn.Identity
        )
        self.enc_norm, self.dec_norm = make_norm(), make_norm()
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.head.weight = self.embed.tok.weight

    def _padding(self, ids: torch.Tensor) -> torch.Tensor | None:
        return None if self.cfg.pad_id is None else ids != self.cfg.pad_id

    def encode(self, src: torch.Tensor, *, need_weights: bool = False):
        """Return ``(memory (batch, n_src, d_model), [encoder weights per
        layer])``."""
        x, kpm, weights = self.embed(src, "src"), self._padding(src), []
        for block in self.encoder:
            x, w = block(x, key_padding_mask=kpm, need_weights=need_weights)
            weights.append(w)
        return self.enc_norm(x), weights

    def decode(
        self,
        tgt_in: torch.Tensor,
        memory: torch.Tensor,
        src: torch.Tensor,
        *,
        need_weights: bool = False,
    ):
        """Return ``(logits, [self weights per layer], [cross weights per
        layer])``."""
        x, w_self, w_cross = self.embed(tgt_in, "tgt_in"), [], []
        for block in self.decoder:
            x, (ws, wc) = block(
                x,
                memory,
                key_padding_mask=self._padding(tgt_in),
                memory_key_padding_mask=self._padding(src),
                need_weights=need_weights,
            )
            w_self.append(ws)
            w_cross.append(wc)
        return self.head(self.dec_norm(x)), w_self, w_cross

    def forward(
        self,
        src: torch.Tensor,
        tgt_in: torch.Tensor,
        *,
        need_weights: bool = False,
    ):
        if (
            src.dim() == 2
            and tgt_in.dim() == 2
            and src.shape[0] != tgt_in.shape[0]
        ):
            raise ValueError(
                "src and tgt_in must share the batch size, got "
                f"{shape_str(src)} and {shape_str(tgt_in)}"
            )
        memory, enc_w = self.encode(src, need_weights=need_weights)
        logits, dec_w, cross_w = self.decode(
            tgt_in, memory, src, need_weights=need_weights
        )
        if not need_weights:
            return logits
        return ModelOutput(
            logits, {"encoder": enc_w, "decoder": dec_w, "cross": cross_w}
        )

    @torch.no_grad()
    def generate(
        self,
        src: torch.Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Decode ``(batch, <= 1 + max_new_tokens)`` ids, starting with
        ``cfg.bos_id`` (greedy at ``temperature=0``, else sampled); positions
        after a sequence's ``cfg.eos_id`` are filled with ``pad_id`` (or
        ``eos_id``)."""
        cfg = self.cfg
        if cfg.bos_id is None or cfg.eos_id is None:
            raise ValueError(
                "generate needs cfg.bos_id and cfg.eos_id; set them in the "
                "TransformerConfig"
            )
        with evaluating(self):
            memory, _ = self.encode(src)
            out = decode_until_eos(
                lambda out: self.decode(out, memory, src)[0][:, -1],
                src.shape[0],
                max_new_tokens,
                bos_id=cfg.bos_id,
                eos_id=cfg.eos_id,
                fill_id=cfg.eos_id if cfg.pad_id is None else cfg.pad_id,
                device=src.device,
                temperature=temperature,
                top_k=top_k,
                generator=generator,
            )
        return out
