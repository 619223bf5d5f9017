"""attnlib.functional against PyTorch's reference and hand computations."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from attnlib.functional import (
    additive_scores,
    attention,
    causal_mask,
    combine_masks,
    dot_scores,
    key_padding_to_attn_mask,
    masked_softmax,
    padding_mask,
    scaled_dot_scores,
)


def qkv(b=2, h=3, nq=5, nk=7, d=8, dv=4, dtype=torch.float32):
    return (
        torch.randn(b, h, nq, d, dtype=dtype),
        torch.randn(b, h, nk, d, dtype=dtype),
        torch.randn(b, h, nk, dv, dtype=dtype),
    )


def test_matches_sdpa_without_mask():
    q, k, v = qkv()
    out, w = attention(q, k, v)
    assert_close(out, F.scaled_dot_product_attention(q, k, v))
    assert_close(w.sum(-1), torch.ones(2, 3, 5))


@pytest.mark.parametrize(
    "mask_shape", [(5, 7), (2, 1, 5, 7), (2, 3, 5, 7), (1, 1, 1, 7)]
)
def test_matches_sdpa_with_bool_mask(mask_shape):
    q, k, v = qkv()
    mask = torch.rand(mask_shape) > 0.4
    mask[..., 0] = True  # every query keeps at least one key
    out, w = attention(q, k, v, mask)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert (w.masked_select(~mask.expand_as(w)) == 0).all()


def test_matches_sdpa_with_float_mask_and_scale():
    q, k, v = qkv()
    mask = torch.randn(5, 7)
    out, _ = attention(q, k, v, mask, scale=0.3)
    assert_close(
        out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3)
    )


def test_causal_matches_sdpa():
    q, k, v = qkv(nq=6, nk=6)
    out, w = attention(q, k, v, is_causal=True)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert (w.triu(1) == 0).all()


def test_causal_mask_bottom_right_for_cache():
    m = causal_mask(2, 4)
    assert m.tolist() == [[True, True, True, False], [True, True, True, True]]
    assert causal_mask(3).equal(torch.ones(3, 3, dtype=torch.bool).tril())


def test_dot_and_scaled_dot_scores_by_hand():
    q = torch.tensor([[1.0, 2.0]])
    k = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    assert_close(dot_scores(q, k), torch.tensor([[11.0, 2.0]]))
    assert_close(
        scaled_dot_scores(q, k), torch.tensor([[11.0, 2.0]]) / math.sqrt(2)
    )
    out, _ = attention(q, k, k, score="dot")
    w = torch.softmax(torch.tensor([11.0, 2.0]), 0)
    assert_close(out, (w[:, None] * k).sum(0, keepdim=True))


def test_additive_scores_by_hand():
    q, k = torch.randn(4, 3), torch.randn(6, 5)
    wq, wk, wv = torch.randn(7, 3), torch.randn(7, 5), torch.randn(7)
    s = additive_scores(q, k, wq, wk, wv)
    expected = torch.stack(
        [
            torch.stack(
                [wv @ torch.tanh(wq @ q[i] + wk @ k[j]) for j in range(6)]
            )
            for i in range(4)
        ]
    )
    assert_close(s, expected)


def test_fully_masked_rows_give_zeros_and_finite_gradients():
    q, k, v = qkv()
    q.requires_grad_()
    k.requires_grad_()
    v.requires_grad_()
    mask = torch.ones(5, 7, dtype=torch.bool)
    mask[2] = False
    out, w = attention(q, k, v, mask)
    assert torch.isfinite(out).all() and torch.isfinite(w).all()
    assert (out[:, :, 2] == 0).all() and (w[:, :, 2] == 0).all()
    out.sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert (q.grad[:, :, 2] == 0).all()


def test_masked_softmax_float_mask_all_inf_row():
    s = torch.randn(3, 4, requires_grad=True)
    mask = torch.zeros(3, 4)
    mask[1] = float("-inf")
    w = masked_softmax(s, mask)
    assert (w[1] == 0).all() and torch.isfinite(w).all()
    assert_close(w[[0, 2]].sum(-1), torch.ones(2))
    w.sum().backward()
    assert torch.isfinite(s.grad).all()


def test_permutation_equivariance_of_self_attention():
    x = torch.randn(1, 9, 16)
    perm = torch.randperm(9)
    out, _ = attention(x, x, x)
    out_p, _ = attention(x[:, perm], x[:, perm], x[:, perm])
    assert_close(out_p, out[:, perm])


def test_padding_mask_and_key_padding():
    m = padding_mask([3, 1, 0], max_len=4)
    assert m.tolist() == [
        [True, True, True, False],
        [True, False, False, False],
        [False] * 4,
    ]
    assert key_padding_to_attn_mask(m).shape == (3, 1, 1, 4)
    assert padding_mask(torch.tensor([2, 5])).shape == (2, 5)


def test_combine_masks():
    a = torch.tensor([[True, False], [True, True]])
    b = torch.tensor([[True, True], [False, True]])
    assert combine_masks(a, b).tolist() == [[True, False], [False, True]]
    assert combine_masks(None, None) is None
    f = combine_masks(a, torch.zeros(2, 2))
    assert (
        f.dtype == torch.float32 and torch.isneginf(f[0, 1]) and f[0, 0] == 0
    )


def test_dropout_only_in_training():
    q, k, v = qkv()
    out_eval, _ = attention(q, k, v, dropout_p=0.5, training=False)
    assert_close(out_eval, F.scaled_dot_product_attention(q, k, v))
    out_train, _ = attention(q, k, v, dropout_p=0.5, training=True)
    assert not torch.allclose(out_train, out_eval)


def test_double_precision():
    q, k, v = qkv(dtype=torch.float64)
    out, _ = attention(q, k, v)
    assert out.dtype == torch.float64
    assert_close(out, F.scaled_dot_product_attention(q, k, v))
