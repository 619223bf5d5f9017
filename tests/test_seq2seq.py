"""attnlib.models.seq2seq: GRU encoder–decoder with and without additive
attention."""

import pytest
import torch

from attnlib.models import teacher_forcing
from attnlib.models.seq2seq import Seq2Seq, Seq2SeqConfig

V = 12


def make(attention=True, **kw):
    torch.manual_seed(0)
    return Seq2Seq(
        Seq2SeqConfig(
            V,
            emb_dim=8,
            d_model=16,
            attn_dim=8,
            attention=attention,
            max_len=20,
            **kw,
        )
    ).eval()


def batch():
    src = torch.tensor(
        [[5, 6, 7, 8], [9, 10, 0, 0]]
    )  # row 1 has two pad tokens
    tgt = torch.tensor([[1, 4, 5, 2], [1, 6, 2, 0]])
    return src, tgt


@pytest.mark.parametrize("attention", [True, False])
def test_shapes_and_weights(attention):
    m = make(attention)
    src, tgt = batch()
    logits, weights = m(src, tgt[:, :-1], need_weights=True)
    assert logits.shape == (2, 3, V)
    if attention:
        (w,) = weights
        assert w.shape == (2, 1, 3, 4)  # one layer, one head
        w = w[:, 0]
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 3))
        assert (w[1, :, 2:] == 0).all()  # padding gets no weight
    else:
        assert weights == []


def test_cross_attention_is_additive_formula():
    m = make()
    src, tgt = batch()
    states, summary, mask = m.encode(src)
    s = torch.randn(2, 3, 16)
    ctx, w = m.context(s, states, summary, mask)
    a = m.attn
    scores = (
        torch.tanh(a.w_q(s)[:, :, None] + a.w_k(states)[:, None])
        @ a.w_v.weight[0]
    )  # (2, 3, 4)
    scores = scores.masked_fill(~mask[:, None], float("-inf"))
    ref_w = torch.softmax(scores, -1)
    torch.testing.assert_close(w, ref_w)
    torch.testing.assert_close(ctx, ref_w @ states)


def test_no_attention_context_is_constant():
    m = make(False)
    src, _ = batch()
    states, summary, mask = m.encode(src)
    ctx, w = m.context(torch.randn(2, 5, 16), states, summary, mask)
    assert (
        w is None
        and torch.equal(ctx[:, 0], summary)
        and torch.equal(ctx[:, 4], summary)
    )


@pytest.mark.parametrize("attention", [True, False])
def test_padding_does_not_change_outputs(attention):
    m = make(attention)
    src, tgt = batch()
    short = m(src[1:, :2], tgt[1:, :2])
    padded = m(
        torch.cat([src[1:], torch.zeros(1, 3, dtype=torch.long)], 1),
        tgt[1:, :2],
    )
    torch.testing.assert_close(short, padded)


def test_greedy_matches_stepwise_argmax_and_beam1():
    m = make()
    src, _ = batch()
    out, (w,) = m.generate(src[:1], 5, need_weights=True)
    assert (
        out[0, 0] == 1
        and out.shape[1] <= 6
        and w.shape == (1, 1, out.shape[1] - 1, 4)
    )
    # feeding the greedy output back with teacher forcing must reproduce each
    # argmax
    logits = m(src[:1], out[:, :-1])
    assert torch.equal(logits.argmax(-1), out[:, 1:])
    best = m.beam_search(src[0], beam_size=1, max_new_tokens=5)[0][0]
    greedy = [t for t in out[0, 1:].tolist() if t not in (2, 0)]
    assert best == greedy


def test_beam_search_returns_sorted_hypotheses():
    m = make()
    src, _ = batch()
    hyps = m.beam_search(src[:1], beam_size=3, max_new_tokens=7)
    assert 1 <= len(hyps) <= 3
    scores = [s for _, s in hyps]
    assert scores == sorted(scores, reverse=True) and all(
        s <= 0 for s in scores
    )
    with pytest.raises(ValueError, match="one source at a time"):
        m.beam_search(src, beam_size=2)
    with pytest.raises(ValueError, match="beam_size"):
        m.beam_search(src[0], beam_size=0)


def test_training_reduces_loss_on_copy_task():
    m = make().train()
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)

    def data():
        src = torch.randint(4, V, (32, 5), generator=g)
        return src, torch.cat(
            [torch.ones(32, 1, dtype=torch.long), src, torch.full((32, 1), 2)],
            1,
        )

    def batch_loss():
        src, tgt = data()
        return m.loss(src, *teacher_forcing(tgt))

    first = batch_loss().item()
    for _ in range(60):
        loss = batch_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_bad_inputs_are_clear():
    m = make()
    src, tgt = batch()
    with pytest.raises(ValueError, match="outside"):
        m(torch.tensor([[99]]), tgt[:1])
    with pytest.raises(ValueError, match="allows 20"):
        m(torch.full((1, 21), 5), tgt[:1])
    with pytest.raises(ValueError, match="n >= 1"):
        m(torch.zeros(1, 0, dtype=torch.long), tgt[:1])
    with pytest.raises(ValueError, match="all padding"):
        m(torch.zeros(1, 3, dtype=torch.long), tgt[:1])
    with pytest.raises(TypeError, match="integer"):
        m(src.float(), tgt)
    with pytest.raises(ValueError, match="batch size"):
        m(src, tgt[:1])
    with pytest.raises(ValueError, match="vocab_size"):
        Seq2SeqConfig(0)
    with pytest.raises(ValueError, match="eos_id"):
        Seq2SeqConfig(5, eos_id=9)
