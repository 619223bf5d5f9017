"""attnlib.metrics on hand-computed cases."""

import math

import pytest
import torch

from attnlib.metrics import (
    accuracy,
    corpus_bleu,
    hit_rate_at_k,
    ndcg_at_k,
    rank_of_target,
)


def test_accuracy_from_logits_and_labels():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    assert (
        accuracy(
            torch.tensor([1, 2, 3]),
            torch.tensor([1, 0, -100]),
            ignore_index=-100,
        )
        == 0.5
    )
    with pytest.raises(ValueError, match="do not match"):
        accuracy(torch.tensor([1, 2]), torch.tensor([1, 2, 3]))


def test_bleu_perfect_and_signature():
    score, sig = corpus_bleu(
        ["le chat est sur le tapis"], ["le chat est sur le tapis"]
    )
    assert score == pytest.approx(100.0) and "tok:13a" in sig
    low, _ = corpus_bleu(["un chien dort ici"], ["le chat est sur le tapis"])
    assert low < 10
    with pytest.raises(ValueError, match="1 hypotheses but 2 references"):
        corpus_bleu(["a"], ["a", "b"])


def test_ranking_metrics_by_hand():
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.5],  # target (col 0) best -> rank 0
            [0.2, 0.8, 0.5],  # two above -> rank 2
            [0.5, 0.5, 0.1],
        ]
    )  # tie counted against -> rank 1
    ranks = rank_of_target(scores)
    assert ranks.tolist() == [0, 2, 1]
    assert hit_rate_at_k(ranks, 1) == pytest.approx(1 / 3)
    assert hit_rate_at_k(ranks, 2) == pytest.approx(2 / 3)
    expected = (1 / math.log2(2) + 1 / math.log2(4) + 1 / math.log2(3)) / 3
    assert ndcg_at_k(ranks, 10) == pytest.approx(expected)
    assert ndcg_at_k(ranks, 2) == pytest.approx((1 + 1 / math.log2(3)) / 3)
    assert rank_of_target(scores, torch.tensor([1, 1, 2])).tolist() == [
        2,
        0,
        2,
    ]
    with pytest.raises(ValueError, match="k must be positive"):
        hit_rate_at_k(ranks, 0)
