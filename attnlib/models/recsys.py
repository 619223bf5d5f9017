"""Recommenders over item sequences (item index 0 is padding).

* :class:`SASRec` (Kang & McAuley, 2018): causal self-attention over a user's
  past items; the state at the last position scores every candidate by a dot
  product with the (shared) item embeddings.
* :class:`GRURec`: the same interface with a GRU instead of attention
  (GRU4Rec-style, Hidasi et al., 2016), the non-attention baseline.
* :class:`TargetAttentionRecommender` (DIN-style, Zhou et al., 2018): the
  *candidate* item attends over the history, so the user's representation
  depends on what is being scored; ``pooling="mean"`` is the same model with
  plain mean pooling.

All three take left-padded ``(batch, max_len)`` int tensors. A user with an
empty history (a row of zeros) gets finite, well-defined scores: SASRec and
GRURec then score from position information alone (the same ranking for every
such user), and the target-attention model pools nothing (a zero vector).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import check_tensor, check_token_ids, shape_str
from ..functional import masked_softmax
from .contract import ModelOutput, check_config
from .transformer import EncoderBlock

__all__ = [
    "SASRecConfig",
    "SASRec",
    "GRURecConfig",
    "GRURec",
    "TargetAttentionConfig",
    "TargetAttentionRecommender",
    "check_item_ids",
    "next_item_loss",
]


def check_item_ids(
    name: str,
    ids: torch.Tensor,
    n_items: int,
    ndim: int | tuple[int, ...] = 2,
    allow_padding: bool = True,
) -> None:
    """Raise TypeError/ValueError unless ``ids`` is an integer tensor of item
    indices in ``0..n_items`` (``1..n_items`` if ``allow_padding`` is
    False)."""
    check_token_ids(
        name,
        ids,
        vocab_size=n_items + 1,
        ndim=ndim,
        low=0 if allow_padding else 1,
        nonempty=None,
        items=True,
    )


@dataclass
class SASRecConfig:
    """Sizes of :class:`SASRec`. Items are ``1..n_items`` (0 = padding);
    ``max_len`` is the longest history it reads."""

    n_items: int
    max_len: int = 50
    d_model: int = 64
    num_heads: int = 2
    num_layers: int = 2
    d_ff: int | None = None
    dropout: float = 0.2

    def __post_init__(self):
        check_config(self, positive=("n_items",))


@dataclass
class GRURecConfig:
    """Sizes of :class:`GRURec`."""

    n_items: int
    d_model: int = 64
    dropout: float = 0.2

    def __post_init__(self):
        check_config(self, positive=("n_items",))


@dataclass
class TargetAttentionConfig:
    """Sizes of :class:`TargetAttentionRecommender`: ``d_hidden`` is the width
    of its two small MLPs; ``pooling`` is ``"attention"`` or ``"mean"``."""

    n_items: int
    d_model: int = 32
    d_hidden: int = 64
    pooling: str = "attention"

    def __post_init__(self):
        check_config(self, positive=("n_items", "d_hidden"))
        if self.pooling not in ("attention", "mean"):
            raise ValueError(
                f"pooling must be 'attention' or 'mean', got {self.pooling!r}"
            )


class _NextItemModel(nn.Module):
    """What SASRec and GRURec share: ``forward(seq)`` gives a state per
    position; the last one scores the candidates, every one is trained to
    predict the item after it."""

    def scores(
        self, seq: torch.Tensor, candidates: torch.Tensor | None = None
    ) -> torch.Tensor:
        last = self(seq)[:, -1]
        return _score(last, self.item_emb, candidates, self.n_items)

    def loss(
        self,
        seq: torch.Tensor,
        targets: torch.Tensor,
        n_negatives: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Next-item cross-entropy at every real position (``targets``
        0 = ignore); see :func:`next_item_loss`."""
        return next_item_loss(
            self(seq),
            self.item_emb,
            seq,
            targets,
            self.n_items,
            n_negatives,
            generator,
        )


class SASRec(_NextItemModel):
    """Self-attentive sequential recommendation.

    ``forward(seq)`` returns hidden states ``(batch, max_len, d_model)``;
    ``scores(seq, candidates=None)`` the scores of the state at the last
    position against ``candidates`` ``(batch, C)`` or, if None, against all
    items ``(batch, n_items + 1)`` (column 0, padding, is set to -inf).
    """

    def __init__(self, cfg: SASRecConfig):
        super().__init__()
        self.cfg = cfg
        n_items, max_len, d_model = cfg.n_items, cfg.max_len, cfg.d_model
        self.n_items, self.max_len = n_items, max_len
        self.item_emb = nn.Embedding(n_items + 1, d_model, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.item_emb.weight, std=0.05)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock.from_config(cfg) for _ in range(cfg.num_layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def attn_mask(self, seq: torch.Tensor) -> torch.Tensor:
        """Causal mask that also hides padding keys: ``(batch, 1, n, n)``,
        True = may attend. Every position may attend to itself, so no row is
        empty (padding rows are ignored)."""
        n = seq.shape[1]
        causal = torch.ones(n, n, dtype=torch.bool, device=seq.device).tril()
        real_key = (seq != 0)[:, None, None, :]
        eye = torch.eye(n, dtype=torch.bool, device=seq.device)
        return causal & (real_key | eye)

    def forward(self, seq: torch.Tensor, *, need_weights: bool = False):
        check_item_ids("seq", seq, self.n_items)
        if seq.shape[1] > self.max_len:
            raise ValueError(
                f"seq has length {seq.shape[1]} > max_len={self.max_len}; "
                "keep the last max_len items"
            )
        n = seq.shape[1]
        pos = torch.arange(
            self.max_len - n, self.max_len, device=seq.device
        )  # right-aligned positions
        h = self.drop(
            self.item_emb(seq) * self.item_emb.embedding_dim**0.5
            + self.pos_emb(pos)
        )
        mask = self.attn_mask(seq)
        weights = []
        for block in self.blocks:
            h, w = block(h, attn_mask=mask, need_weights=need_weights)
            weights.append(w)
        h = self.norm(h)
        return ModelOutput(h, weights) if need_weights else h


def next_item_loss(
    hidden: torch.Tensor,
    emb: nn.Embedding,
    seq: torch.Tensor,
    targets: torch.Tensor,
    n_items: int,
    n_negatives: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Cross-entropy of the next item from each position's state ``hidden``
    ``(batch, n, d)``.

    ``n_negatives=None``: softmax over all items. Otherwise a *sampled*
    softmax: the target competes with ``n_negatives`` items drawn uniformly
    (shared by the batch), which is far cheaper when there are thousands of
    items.
    """
    check_item_ids("targets", targets, n_items)
    if targets.shape != seq.shape:
        raise ValueError(
            f"targets must have seq's shape {shape_str(seq)}, got "
            f"{shape_str(targets)}"
        )
    if n_negatives is None:
        logits = hidden @ emb.weight.T
        return F.cross_entropy(
            logits.flatten(0, 1), targets.flatten(), ignore_index=0
        )
    if not isinstance(n_negatives, int) or n_negatives <= 0:
        raise ValueError(
            f"n_negatives must be a positive int or None, got {n_negatives!r}"
        )
    keep = targets != 0
    h, t = hidden[keep], targets[keep]
    neg = torch.randint(
        1, n_items + 1, (n_negatives,), generator=generator
    ).to(h.device)
    pos_logit = (h * emb(t)).sum(-1, keepdim=True)
    neg_logit = h @ emb(neg).T
    neg_logit = neg_logit.masked_fill(
        neg[None, :] == t[:, None], float("-inf")
    )  # an accidental hit is no negative
    logits = torch.cat([pos_logit, neg_logit], dim=1)
    return F.cross_entropy(
        logits, torch.zeros(len(t), dtype=torch.long, device=h.device)
    )


def _score(
    state: torch.Tensor, emb: nn.Embedding, candidates, n_items: int
) -> torch.Tensor:
    if candidates is None:
        s = state @ emb.weight.T
        s[:, 0] = float("-inf")
        return s
    check_item_ids("candidates", candidates, n_items, allow_padding=False)
    if candidates.shape[0] != state.shape[0]:
        raise ValueError(
            f"candidates must be (batch={state.shape[0]}, C), got "
            f"{shape_str(candidates)}"
        )
    return (emb(candidates) * state[:, None, :]).sum(-1)


class GRURec(_NextItemModel):
    """GRU over the item sequence (GRU4Rec-style), same interface as
    :class:`SASRec`."""

    def __init__(self, cfg: GRURecConfig):
        super().__init__()
        self.cfg = cfg
        n_items, d_model, dropout = cfg.n_items, cfg.d_model, cfg.dropout
        self.n_items = n_items
        self.item_emb = nn.Embedding(n_items + 1, d_model, padding_idx=0)
        nn.init.normal_(self.item_emb.weight, std=0.05)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(d_model, d_model, batch_first=True)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        check_item_ids("seq", seq, self.n_items)
        h, _ = self.gru(
            self.drop(self.item_emb(seq))
        )  # left padding: real items come last
        return self.norm(h)


class TargetAttentionRecommender(nn.Module):
    """Click-through-style scorer ``p(user likes candidate | history)``,
    DIN-style.

    ``pooling="attention"``: weights
    ``a_j = softmax_j(MLP([e_j, c, e_j - c, e_j * c]))`` over the real history
    items ``e_j`` for candidate ``c``; the user vector is ``sum_j a_j e_j``.
    ``pooling="mean"``: the plain mean of the history. Either way the logit is
    ``MLP([u, c, u * c])``. (DIN itself leaves the weights unnormalised; the
    softmax here makes them readable as "how much each past item counts".)
    """

    def __init__(self, cfg: TargetAttentionConfig):
        super().__init__()
        self.cfg = cfg
        n_items, d_model, hidden = cfg.n_items, cfg.d_model, cfg.d_hidden
        self.n_items, self.pooling = n_items, cfg.pooling
        self.item_emb = nn.Embedding(n_items + 1, d_model, padding_idx=0)
        nn.init.normal_(self.item_emb.weight, std=0.05)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        self.att = nn.Sequential(
            nn.Linear(4 * d_model, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )
        self.out = nn.Sequential(
            nn.Linear(3 * d_model, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def pool(self, history: torch.Tensor, candidate: torch.Tensor):
        """User vector ``(batch, d)`` and weights ``(batch, max_len)`` (zeros
        on padding)."""
        e, c = (
            self.item_emb(history),
            self.item_emb(candidate)[:, None, :].expand(
                -1, history.shape[1], -1
            ),
        )
        real = history != 0
        if self.pooling == "mean":
            w = real.float() / real.sum(1, keepdim=True).clamp_min(1)
        else:
            logits = self.att(torch.cat([e, c, e - c, e * c], dim=-1)).squeeze(
                -1
            )
            w = masked_softmax(
                logits, real
            )  # an empty history gives all-zero weights
        return (w[..., None] * e).sum(1), w

    def forward(
        self,
        history: torch.Tensor,
        candidate: torch.Tensor,
        *,
        need_weights: bool = False,
    ):
        check_item_ids("history", history, self.n_items)
        check_item_ids(
            "candidate", candidate, self.n_items, ndim=1, allow_padding=False
        )
        if candidate.shape[0] != history.shape[0]:
            raise ValueError(
                f"candidate must be (batch={history.shape[0]},), got "
                f"{shape_str(candidate)}"
            )
        u, w = self.pool(history, candidate)
        c = self.item_emb(candidate)
        logit = self.out(torch.cat([u, c, u * c], dim=-1)).squeeze(-1)
        if need_weights:  # one attention layer, one head, one query
            return ModelOutput(logit, [w[:, None, None, :]])
        return logit

    def loss(
        self,
        history: torch.Tensor,
        candidate: torch.Tensor,
        label: torch.Tensor,
    ) -> torch.Tensor:
        """Binary cross-entropy of ``label`` ``(batch,)`` (1 = the user took
        the candidate) from the logit."""
        check_tensor("label", label, ndim=1, floating=True)
        if label.shape != candidate.shape:
            raise ValueError(
                f"label must be (batch,) = {shape_str(candidate)}, got "
                f"{shape_str(label)}"
            )
        return F.binary_cross_entropy_with_logits(
            self(history, candidate), label
        )
