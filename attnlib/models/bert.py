"""BERT (Devlin et al., 2019): a bidirectional Transformer encoder and its
pre-training.

* :class:`BertConfig`: sizes, with :meth:`BertConfig.from_hf` for a Hugging
  Face ``config.json`` dictionary.
* :class:`BertEmbeddings`: word + learned position + token-type embeddings,
  then LayerNorm and dropout.
* :class:`BertModel`: the embeddings and a stack of post-norm
  :class:`attnlib.models.transformer.EncoderBlock` (``norm_first=False``, GELU,
  LayerNorm eps 1e-12): the *same* block as every other Transformer in the
  book, without a causal mask. ``forward(ids, key_padding_mask)`` returns the
  contextual vectors ``(batch, n, d_model)``; ``need_weights=True`` adds the
  attention weights of every layer, each ``(batch, heads, n, n)``.
* :func:`mean_pool`, :meth:`BertModel.sentence_embedding`: mean over the real
  tokens (then L2 normalisation), the sentence embedding of Sentence-BERT
  models.
* :func:`mask_tokens`: the masked-language-model corruption (15 % of the tokens
  chosen; of those 80 % -> ``[MASK]``, 10 % -> a random token, 10 % kept).
* :class:`MLMHead`, :class:`BertForMaskedLM`: predict the chosen tokens.
* :class:`BertClassifier`: a linear classifier on the mean-pooled vectors,
  for fine-tuning.

Masks follow attnlib's convention: ``key_padding_mask`` is bool, True = real
token (a 0/1 integer mask as produced by Hugging Face tokenizers is accepted
too).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import (
    check_tensor,
    check_token_ids,
    shape_str,
)
from ..layers import LearnedPositionalEmbedding
from .contract import ModelOutput, check_config, token_cross_entropy
from .transformer import EncoderBlock

__all__ = [
    "BertConfig",
    "BertEmbeddings",
    "BertModel",
    "MLMHead",
    "BertForMaskedLM",
    "BertClassifier",
    "mean_pool",
    "mask_tokens",
    "init_bert_weights",
]


@dataclass
class BertConfig:
    """Sizes of a BERT encoder. ``d_ff`` defaults to ``4 * d_model``;
    ``pooler`` adds BERT's tanh layer on the ``[CLS]`` vector (kept only so
    checkpoints load completely)."""

    vocab_size: int
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int | None = None
    max_len: int = 512
    type_vocab_size: int = 2
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    activation: str = "gelu"
    pad_id: int = 0
    pooler: bool = False

    def __post_init__(self):
        check_config(self, positive=("vocab_size", "type_vocab_size"))
        if self.activation not in ("gelu", "relu"):
            raise ValueError(
                f"activation must be 'gelu' or 'relu', got {self.activation!r}"
            )
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(
                f"pad_id must be in [0, vocab_size={self.vocab_size}), got "
                f"{self.pad_id}"
            )

    @classmethod
    def from_hf(cls, cfg: dict, *, dropout: float = 0.0) -> "BertConfig":
        """Translate a Hugging Face BERT ``config.json`` dictionary (dropout
        off by default: the loaded model is for inference)."""
        if not isinstance(cfg, dict):
            raise TypeError(
                "cfg must be a dict (the parsed config.json), got "
                f"{type(cfg).__name__}"
            )
        need = [
            "vocab_size",
            "hidden_size",
            "num_attention_heads",
            "num_hidden_layers",
            "intermediate_size",
            "max_position_embeddings",
        ]
        missing = [k for k in need if k not in cfg]
        if missing:
            raise ValueError(f"config lacks the keys {missing}")
        if cfg.get("model_type", "bert") != "bert":
            raise ValueError(
                f"config has model_type {cfg.get('model_type')!r}, expected "
                "'bert'"
            )
        if cfg.get("hidden_act", "gelu") not in ("gelu", "relu"):
            raise ValueError(
                f"config has hidden_act {cfg['hidden_act']!r}; attnlib's BERT "
                "supports 'gelu' (exact, erf-based) and 'relu'"
            )
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(
                "config has position_embedding_type "
                f"{cfg['position_embedding_type']!r}; only 'absolute' "
                "(learned) positions are supported"
            )
        return cls(
            vocab_size=cfg["vocab_size"],
            d_model=cfg["hidden_size"],
            num_heads=cfg["num_attention_heads"],
            num_layers=cfg["num_hidden_layers"],
            d_ff=cfg["intermediate_size"],
            max_len=cfg["max_position_embeddings"],
            type_vocab_size=cfg.get("type_vocab_size", 2),
            dropout=dropout,
            layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
            activation=cfg.get("hidden_act", "gelu"),
            pad_id=cfg.get("pad_token_id", 0) or 0,
            pooler=True,
        )


def init_bert_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation: normal(0, 0.02) weights, zero biases,
    LayerNorm = identity."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=std)
            if m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _as_bool_mask(
    mask: torch.Tensor | None,
    ids: torch.Tensor,
    name: str = "key_padding_mask",
):
    if mask is None:
        return None
    check_tensor(name, mask, ndim=2)
    if tuple(mask.shape) != tuple(ids.shape):
        raise ValueError(
            f"{name} must have the shape of ids {shape_str(ids)}, got "
            f"{shape_str(mask)}"
        )
    if mask.dtype != torch.bool:
        if (
            torch.is_floating_point(mask)
            or not ((mask == 0) | (mask == 1)).all()
        ):
            raise TypeError(
                f"{name} must be bool (True = real token) or hold only 0/1 "
                f"integers, got dtype {mask.dtype}"
            )
        mask = mask != 0
    return mask


class BertEmbeddings(nn.Module):
    """``LayerNorm(word[ids] + position[t] + token_type[type_ids])``, then
    dropout."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.word = nn.Embedding(
            cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_id
        )
        self.position = LearnedPositionalEmbedding(cfg.max_len, cfg.d_model)
        self.token_type = nn.Embedding(cfg.type_vocab_size, cfg.d_model)
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)
        self.cfg = cfg

    def forward(
        self, ids: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        check_token_ids(
            "ids",
            ids,
            vocab_size=self.cfg.vocab_size,
            max_len=self.cfg.max_len,
            too_long=(
                "max_len is {max_len}; truncate the input (the tokenizer's "
                "max_len does this)"
            ),
            id_noun="values",
        )
        b, n = ids.shape
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(ids)
        elif tuple(token_type_ids.shape) != (b, n):
            raise ValueError(
                f"token_type_ids must have the shape of ids {shape_str(ids)}, "
                f"got {shape_str(token_type_ids)}"
            )
        x = self.word(ids) + self.token_type(token_type_ids)
        x = self.position(x)  # adds the learned vector of each position
        return self.drop(self.norm(x))


class BertModel(nn.Module):
    """The BERT encoder: embeddings and ``num_layers`` post-norm encoder
    blocks.

    ``forward(ids, key_padding_mask=None, *, token_type_ids=None,
    is_causal=False, need_weights=False)`` returns the hidden states
    ``(batch, n, d_model)``, or
    ``(hidden, [weights of each layer, (batch, heads, n, n)])`` when
    ``need_weights``. BERT never uses ``is_causal``; it is there to compare.
    """

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.cfg = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.layers = nn.ModuleList(
            EncoderBlock.from_config(cfg, norm_first=False)  # post-norm
            for _ in range(cfg.num_layers)
        )
        self.pooler = (
            nn.Linear(cfg.d_model, cfg.d_model) if cfg.pooler else None
        )
        init_bert_weights(self)

    def forward(
        self,
        ids: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        *,
        token_type_ids: torch.Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
    ):
        x = self.embeddings(ids, token_type_ids)
        kpm = _as_bool_mask(key_padding_mask, ids)
        weights = []
        for block in self.layers:
            x, w = block(
                x,
                key_padding_mask=kpm,
                is_causal=is_causal,
                need_weights=need_weights,
            )
            weights.append(w)
        return ModelOutput(x, weights) if need_weights else x

    def sentence_embedding(
        self,
        ids: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        *,
        normalize: bool = True,
    ) -> torch.Tensor:
        """Mean of the real tokens' final vectors (``(batch, d_model)``),
        L2-normalised by default: what sentence-transformers' all-MiniLM-L6-v2
        computes."""
        kpm = _as_bool_mask(key_padding_mask, ids)
        pooled = mean_pool(self(ids, kpm), kpm)
        return F.normalize(pooled, dim=-1) if normalize else pooled

    def pooled_cls(self, hidden: torch.Tensor) -> torch.Tensor:
        """BERT's original sentence vector: ``tanh(W h_[CLS] + b)`` (needs
        ``cfg.pooler``)."""
        if self.pooler is None:
            raise ValueError(
                "this model has no pooler; build it with "
                "BertConfig(pooler=True)"
            )
        return torch.tanh(self.pooler(hidden[:, 0]))


def mean_pool(
    hidden: torch.Tensor, key_padding_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Average ``hidden (batch, n, d)`` over the positions where
    ``key_padding_mask`` is True."""
    check_tensor("hidden", hidden, ndim=3, floating=True)
    if key_padding_mask is None:
        return hidden.mean(dim=1)
    if key_padding_mask.dtype != torch.bool or tuple(
        key_padding_mask.shape
    ) != tuple(hidden.shape[:2]):
        raise ValueError(
            "key_padding_mask must be bool (batch, n) = "
            f"{tuple(hidden.shape[:2])}, got {key_padding_mask.dtype} "
            f"{shape_str(key_padding_mask)}"
        )
    m = key_padding_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1e-9)


def mask_tokens(
    ids: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    mask_prob: float = 0.15,
    protect: torch.Tensor | None = None,
    random_ids: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masked-language-model corruption.

    Each position not in ``protect`` (bool, True = never chosen: padding,
    ``[CLS]``, ...) is chosen with probability ``mask_prob``. A chosen token is
    replaced by ``mask_id`` with probability 0.8, by a random token (uniform
    over ``random_ids``, default all ids) with probability 0.1, and kept with
    probability 0.1. Returns ``(inputs, labels)``; ``labels`` holds the
    original id at chosen positions and -100 (ignored by the loss) elsewhere.
    """
    check_tensor("ids", ids, min_dim=1)
    if ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(
            f"ids must hold integer token ids, got dtype {ids.dtype}"
        )
    if not 0.0 < mask_prob < 1.0:
        raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob}")
    if not 0 <= mask_id < vocab_size:
        raise ValueError(
            f"mask_id must be in [0, vocab_size={vocab_size}), got {mask_id}"
        )
    if protect is not None and (
        protect.dtype != torch.bool or protect.shape != ids.shape
    ):
        raise ValueError(
            f"protect must be a bool tensor shaped like ids {shape_str(ids)}, "
            f"got {protect.dtype} {shape_str(protect)}"
        )
    dev = ids.device

    def rand(shape):
        return torch.rand(
            shape,
            generator=generator,
            device=generator.device if generator else dev,
        ).to(dev)

    chosen = rand(ids.shape) < mask_prob
    if protect is not None:
        chosen &= ~protect
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    r = rand(ids.shape)
    to_mask = chosen & (r < 0.8)
    to_random = chosen & (r >= 0.8) & (r < 0.9)
    pool = (
        torch.arange(vocab_size, device=dev)
        if random_ids is None
        else random_ids.to(dev)
    )
    pick = (rand(ids.shape) * len(pool)).long().clamp_max(len(pool) - 1)
    inputs = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    inputs = torch.where(to_random, pool[pick].to(ids.dtype), inputs)
    return inputs, labels


class MLMHead(nn.Module):
    """``decoder(LayerNorm(gelu(dense(h))))``, the decoder's weight tied to the
    word embeddings."""

    def __init__(self, cfg: BertConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(cfg.d_model, cfg.d_model)
        self.act = nn.GELU() if cfg.activation == "gelu" else nn.ReLU()
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.decoder = nn.Linear(cfg.d_model, cfg.vocab_size)
        init_bert_weights(self)
        self.decoder.weight = word_embeddings.weight

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(self.act(self.dense(hidden))))


class BertForMaskedLM(nn.Module):
    """A :class:`BertModel` with an :class:`MLMHead`; ``forward`` gives
    ``(batch, n, vocab)`` logits."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.cfg = cfg
        self.bert = BertModel(cfg)
        self.head = MLMHead(cfg, self.bert.embeddings.word)

    def forward(
        self,
        ids: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        *,
        is_causal: bool = False,
        need_weights: bool = False,
    ):
        out = self.bert(
            ids,
            key_padding_mask,
            is_causal=is_causal,
            need_weights=need_weights,
        )
        if need_weights:
            return ModelOutput(self.head(out.output), out.weights)
        return self.head(out)

    def loss(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        *,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """Mean cross-entropy over the positions whose label is not -100."""
        logits = self(inputs, key_padding_mask, is_causal=is_causal)
        return token_cross_entropy(
            logits, labels, inputs=inputs, names=("labels", "inputs")
        )


class BertClassifier(nn.Module):
    """``Linear(dropout(mean_pool(bert(ids))))``: a sequence classifier for
    fine-tuning."""

    def __init__(
        self, bert: BertModel, num_classes: int, dropout: float = 0.1
    ):
        super().__init__()
        if not isinstance(bert, BertModel):
            raise TypeError(
                f"bert must be an attnlib BertModel, got {type(bert).__name__}"
            )
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                f"num_classes must be an int >= 2, got {num_classes!r}"
            )
        self.bert = bert
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(bert.cfg.d_model, num_classes)

    def forward(
        self, ids: torch.Tensor, key_padding_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        kpm = _as_bool_mask(key_padding_mask, ids)
        return self.head(self.drop(mean_pool(self.bert(ids, kpm), kpm)))
