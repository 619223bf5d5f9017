"""Metrics used across the book: accuracy, BLEU, ranking metrics.

Stand-alone (depends only on torch, and on ``sacrebleu`` for BLEU).
"""
from __future__ import annotations

import math

import torch

__all__ = ["accuracy", "corpus_bleu", "hit_rate_at_k", "ndcg_at_k", "rank_of_target"]


def accuracy(logits_or_preds: torch.Tensor, targets: torch.Tensor, ignore_index: int | None = None) -> float:
    """Fraction of correct predictions. Accepts class scores ``(..., C)`` (argmax taken)
    or predicted labels with the shape of ``targets``."""
    preds = logits_or_preds
    if preds.dim() == targets.dim() + 1:
        preds = preds.argmax(dim=-1)
    if preds.shape != targets.shape:
        raise ValueError(f"predictions {tuple(preds.shape)} and targets {tuple(targets.shape)} do not match")
    keep = torch.ones_like(targets, dtype=torch.bool) if ignore_index is None else targets != ignore_index
    if not keep.any():
        raise ValueError("no targets left to score (all equal ignore_index)")
    return (preds[keep] == targets[keep]).float().mean().item()


def corpus_bleu(hypotheses: list[str], references: list[str], tokenize: str = "13a") -> tuple[float, str]:
    """Corpus BLEU (sacrebleu) of ``hypotheses`` against one reference each.

    Returns ``(score in [0, 100], signature)``; report the signature with the score.
    Use ``tokenize="zh"`` for Chinese targets, ``"char"`` for character-level BLEU.
    """
    try:
        from sacrebleu.metrics import BLEU
    except ImportError as err:   # pragma: no cover - sacrebleu is in requirements.txt
        raise ImportError("corpus_bleu needs sacrebleu: pip install sacrebleu") from err
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        raise ValueError("hypotheses is empty")
    bleu = BLEU(tokenize=tokenize)
    result = bleu.corpus_score(list(hypotheses), [list(references)])
    return float(result.score), str(bleu.get_signature())


def rank_of_target(scores: torch.Tensor, target_col: int | torch.Tensor = 0) -> torch.Tensor:
    """0-based rank of each row's target among its candidates, ``(batch, n_candidates)``
    scores (higher is better); ties are counted pessimistically."""
    if scores.dim() != 2:
        raise ValueError(f"scores must be (batch, n_candidates), got shape {tuple(scores.shape)}")
    if isinstance(target_col, int):
        target_col = torch.full((scores.shape[0],), target_col, dtype=torch.long, device=scores.device)
    target = scores.gather(1, target_col[:, None])
    others = torch.ones_like(scores, dtype=torch.bool).scatter_(1, target_col[:, None], False)
    return ((scores >= target) & others).sum(dim=1)


def hit_rate_at_k(ranks: torch.Tensor, k: int = 10) -> float:
    """Share of targets ranked within the top ``k`` (ranks are 0-based)."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    return (ranks < k).float().mean().item()


def ndcg_at_k(ranks: torch.Tensor, k: int = 10) -> float:
    """NDCG@k with one relevant item per row: ``1 / log2(rank + 2)`` if ``rank < k`` else 0."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    gains = 1.0 / torch.log2(ranks.double() + 2.0)
    return torch.where(ranks < k, gains, torch.zeros_like(gains)).mean().item()
