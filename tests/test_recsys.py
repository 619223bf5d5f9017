"""Tests for attnlib.data.recsys and attnlib.models.recsys."""

import numpy as np
import pandas as pd
import pytest
import torch

from attnlib.data import recsys as rs
from attnlib.models.recsys import (
    GRURec,
    GRURecConfig,
    SASRec,
    SASRecConfig,
    TargetAttentionConfig,
    TargetAttentionRecommender,
    next_item_loss,
)


def _toy_df():
    return pd.DataFrame(
        {
            "userId": [1, 1, 1, 2, 2, 2, 2, 3],
            "movieId": [10, 20, 30, 20, 10, 40, 30, 10],
            "timestamp": [3, 1, 2, 5, 6, 7, 7, 1],
            "title": ["a", "b", "c", "b", "a", "d", "c", "a"],
        }
    )


@pytest.fixture
def toy():
    return rs.build_sequences(_toy_df(), min_user_count=3, tie_seed=None)


def test_build_sequences_orders_by_time_and_maps_ids(toy):
    assert toy.n_items == 4 and toy.n_users == 2  # user 3 has only one item
    assert toy.item_ids.tolist() == [-1, 10, 20, 30, 40]
    # user 1: times 1, 2, 3 -> items 20, 30, 10;
    # user 2: 20, 10, then a tie at t=7, broken by id with tie_seed=None
    assert [s.tolist() for s in toy.sequences] == [[2, 3, 1], [2, 1, 3, 4]]
    assert [t.tolist() for t in toy.times] == [[1, 2, 3], [5, 6, 7, 7]]
    assert toy.titles[4] == "d"


def test_build_sequences_random_ties_are_seeded_and_row_order_free():
    df = _toy_df()
    orders = set()
    for seed in range(20):
        a = rs.build_sequences(df, min_user_count=3, tie_seed=seed)
        shuffled = df.sample(frac=1, random_state=seed)
        b = rs.build_sequences(shuffled, min_user_count=3, tie_seed=seed)
        assert [s.tolist() for s in a.sequences] == [
            s.tolist() for s in b.sequences
        ]  # the input's row order does not matter, only the seed
        assert a.sequences[0].tolist() == [2, 3, 1]  # no ties: time order
        assert a.sequences[1][:2].tolist() == [2, 1]
        orders.add(tuple(a.sequences[1][2:].tolist()))
    assert orders == {(3, 4), (4, 3)}  # the tie goes both ways


def _same_second_stats(data):
    """Share of consecutive pairs with equal timestamps, and among them the
    share where the next item has the higher index."""
    same = up = pairs = 0
    for s, t in zip(data.sequences, data.times):
        tie = t[1:] == t[:-1]
        pairs += len(tie)
        same += int(tie.sum())
        up += int((s[1:][tie] > s[:-1][tie]).sum())
    return same / pairs, up / same


def test_movielens_same_second_order_carries_no_id_signal():
    df = rs.load_movielens()
    kw = dict(min_item_count=10, min_user_count=5)
    by_id = rs.build_sequences(df, tie_seed=None, **kw)
    share, up = _same_second_stats(by_id)
    assert 0.15 < share < 0.3 and up == 1.0  # the artifact, by construction
    a = rs.build_sequences(df, **kw)
    share_a, up_a = _same_second_stats(a)
    assert share_a == share and abs(up_a - 0.5) < 0.02  # 17,672 pairs:
    # a fair coin gives 0.5 with a standard deviation of 0.004
    again = rs.build_sequences(df, **kw)
    assert all(
        np.array_equal(x, y) for x, y in zip(a.sequences, again.sequences)
    )  # reproducible
    other = rs.build_sequences(df, tie_seed=1, **kw)
    assert any(
        not np.array_equal(x, y) for x, y in zip(a.sequences, other.sequences)
    )  # ... and the seed is what decides
    for x, y, t in zip(a.sequences, by_id.sequences, a.times):
        assert sorted(x.tolist()) == sorted(y.tolist())  # same items
        assert np.all(np.diff(t) >= 0)  # still in time order


def test_build_sequences_bad_input():
    with pytest.raises(ValueError, match="missing column"):
        rs.build_sequences(pd.DataFrame({"userId": [1]}))
    df = pd.DataFrame(
        {"userId": [1, None], "movieId": [1, 2], "timestamp": [0, 1]}
    )
    with pytest.raises(ValueError, match="missing values"):
        rs.build_sequences(df)
    df = pd.DataFrame(
        {"userId": [1, 1], "movieId": [1, 2], "timestamp": [0, 1]}
    )
    with pytest.raises(ValueError, match="enough items"):
        rs.build_sequences(df, min_user_count=3)


def test_encode_items_unknown(toy):
    assert rs.encode_items(toy, [40, 10]).tolist() == [4, 1]
    with pytest.raises(KeyError, match="999"):
        rs.encode_items(toy, [10, 999])


def test_leave_last_out(toy):
    train, valid, test = rs.leave_last_out(toy.sequences)
    assert [t.tolist() for t in train] == [[2], [2, 1]]
    assert valid.tolist() == [3, 3] and test.tolist() == [1, 4]
    with pytest.raises(ValueError, match="at least 3"):
        rs.leave_last_out([np.array([1, 2])])


def test_pad_left():
    out = rs.pad_left(
        [np.array([1, 2, 3]), np.array([], dtype=np.int64), np.array([5])], 2
    )
    assert out.tolist() == [[2, 3], [0, 0], [0, 5]]
    with pytest.raises(ValueError, match="padding"):
        rs.pad_left([np.array([0, 1])], 3)
    with pytest.raises(ValueError, match="max_len"):
        rs.pad_left([np.array([1])], 0)


def test_sample_negatives_avoid_history_and_target():
    seqs = [np.array([1, 2, 3]), np.array([4, 5])]
    neg = rs.sample_negatives(seqs, 20, n_neg=10, seed=0, exclude=[6, 7])
    assert neg.shape == (2, 10)
    for u, s in enumerate(seqs):
        row = set(neg[u].tolist())
        assert (
            len(row) == 10
            and not row & set(s.tolist())
            and [6, 7][u] not in row
        )
        assert min(row) >= 1 and max(row) <= 20
    with pytest.raises(ValueError, match="unseen"):
        rs.sample_negatives(seqs, 5, n_neg=4)


def test_item_popularity():
    assert rs.item_popularity(
        [np.array([1, 2, 2]), np.array([2])], 3
    ).tolist() == [0, 1, 3, 0]
    with pytest.raises(ValueError):
        rs.item_popularity([np.array([4])], 3)


def test_load_movielens_is_offline_and_complete():
    df = rs.load_movielens()
    assert len(df) == 100004 and df.userId.nunique() == 671


@pytest.mark.parametrize("cls", [SASRec, GRURec])
def test_sequence_models_shapes_and_empty_history(cls):
    torch.manual_seed(0)
    model = (
        SASRec(SASRecConfig(10, max_len=6, d_model=8, num_layers=1))
        if cls is SASRec
        else GRURec(GRURecConfig(10, d_model=8))
    ).eval()
    seq = torch.tensor(
        [[0, 0, 1, 2, 3, 4], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]
    )
    s_all = model.scores(seq)
    assert (
        s_all.shape == (3, 11)
        and torch.isinf(s_all[:, 0]).all()
        and torch.isfinite(s_all[:, 1:]).all()
    )
    torch.testing.assert_close(
        s_all[1], s_all[2]
    )  # every empty history scores alike
    cand = torch.tensor([[5, 6], [7, 1], [7, 1]])
    torch.testing.assert_close(model.scores(seq, cand), s_all.gather(1, cand))
    loss = model.loss(seq, torch.tensor([[0, 0, 2, 3, 4, 5]] * 3))
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="outside"):
        model.scores(torch.tensor([[0, 11]]))  # unknown item index
    with pytest.raises(ValueError, match="outside"):
        model.scores(
            seq, torch.tensor([[0, 1]] * 3)
        )  # padding is no candidate


def test_sasrec_is_causal_and_ignores_padding():
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(10, max_len=5, d_model=8)).eval()
    a = torch.tensor([[0, 1, 2, 3, 4]])
    b = torch.tensor([[0, 1, 2, 9, 9]])  # same past, different future
    torch.testing.assert_close(model(a)[:, :3], model(b)[:, :3])
    _, w = model(a, need_weights=True)
    assert w[0].shape == (1, 2, 5, 5)
    assert torch.all(
        w[0][0, :, 1:, 0] == 0
    )  # real positions never read the padding
    assert torch.all(w[0].triu(1) == 0)
    with pytest.raises(ValueError, match="max_len"):
        model(torch.ones(1, 6, dtype=torch.long))


def test_next_item_loss_full_and_sampled():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(6, 4)
    hidden = torch.randn(2, 3, 4)
    seq = torch.tensor([[0, 1, 2], [1, 2, 3]])
    tgt = torch.tensor([[0, 2, 3], [2, 3, 4]])
    full = next_item_loss(hidden, emb, seq, tgt, 5)
    logits = hidden @ emb.weight.T
    keep = tgt != 0
    ref = torch.nn.functional.cross_entropy(logits[keep], tgt[keep])
    torch.testing.assert_close(full, ref)
    sampled = next_item_loss(
        hidden,
        emb,
        seq,
        tgt,
        5,
        n_negatives=8,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.isfinite(sampled) and sampled < full + 5
    with pytest.raises(ValueError, match="n_negatives"):
        next_item_loss(hidden, emb, seq, tgt, 5, n_negatives=0)


def test_target_attention_weights_and_empty_history():
    torch.manual_seed(0)
    for pooling in ["attention", "mean"]:
        m = TargetAttentionRecommender(
            TargetAttentionConfig(10, d_model=8, d_hidden=16, pooling=pooling)
        ).eval()
        hist = torch.tensor([[0, 1, 2, 3], [0, 0, 0, 0]])
        logit, (w,) = m(hist, torch.tensor([4, 5]), need_weights=True)
        assert w.shape == (2, 1, 1, 4)  # one layer, head and query
        w = w[:, 0, 0]
        assert logit.shape == (2,) and torch.isfinite(logit).all()
        torch.testing.assert_close(w[0].sum(), torch.tensor(1.0))
        assert w[0, 0] == 0 and torch.all(
            w[1] == 0
        )  # padding and empty history get no weight
        if pooling == "mean":
            torch.testing.assert_close(w[0, 1:], torch.full((3,), 1 / 3))
    with pytest.raises(ValueError, match="pooling"):
        TargetAttentionConfig(10, pooling="max")
    with pytest.raises(ValueError, match="outside"):
        m(torch.tensor([[1, 2]]), torch.tensor([11]))
    with pytest.raises(ValueError, match="candidate must be"):
        m(torch.tensor([[1, 2]]), torch.tensor([3, 4]))
