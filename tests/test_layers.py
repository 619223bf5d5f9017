"""attnlib.layers: MultiHeadAttention against torch.nn.MultiheadAttention and
SDPA; additive attention; positional encodings."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.testing import assert_close

from attnlib.layers import (
    AdditiveAttention,
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    sinusoidal_encoding,
)


def pair(d=32, h=4, **kw):
    ref = nn.MultiheadAttention(d, h, batch_first=True, **kw).eval()
    return ref, MultiHeadAttention.from_torch(ref).eval()


@pytest.mark.parametrize("need_weights", [True, False])
def test_self_attention_equals_torch(need_weights):
    ref, ours = pair()
    x = torch.randn(3, 10, 32)
    expected, expected_w = ref(x, x, x, need_weights=True)
    out, w = ours(x, need_weights=need_weights)
    assert_close(out, expected)
    if need_weights:
        assert_close(w, expected_w)
    else:
        assert w is None


def test_per_head_weights_equal_torch():
    ref, ours = pair()
    x = torch.randn(2, 6, 32)
    _, expected_w = ref(x, x, x, need_weights=True, average_attn_weights=False)
    _, w = ours(x, need_weights=True, average_attn_weights=False)
    assert w.shape == (2, 4, 6, 6)
    assert_close(w, expected_w)


@pytest.mark.parametrize("need_weights", [True, False])
def test_key_padding_and_causal_equal_torch(need_weights):
    ref, ours = pair()
    x = torch.randn(3, 8, 32)
    lengths = torch.tensor([8, 5, 2])
    real = torch.arange(8) < lengths[:, None]
    causal = torch.ones(8, 8, dtype=torch.bool).tril()
    expected, _ = ref(
        x, x, x, key_padding_mask=~real, attn_mask=~causal
    )  # torch: True = blocked
    out, _ = ours(
        x, key_padding_mask=real, is_causal=True, need_weights=need_weights
    )
    assert_close(out, expected)


def test_cross_attention_with_kdim_vdim_equals_torch():
    ref = nn.MultiheadAttention(
        32, 4, batch_first=True, kdim=12, vdim=20
    ).eval()
    ours = MultiHeadAttention.from_torch(ref).eval()
    q, k, v = (
        torch.randn(2, 5, 32),
        torch.randn(2, 9, 12),
        torch.randn(2, 9, 20),
    )
    expected, expected_w = ref(q, k, v)
    out, w = ours(q, k, v, need_weights=True)
    assert_close(out, expected)
    assert_close(w, expected_w)


def test_fused_and_explicit_paths_agree_with_float_mask_and_dead_rows():
    ours = MultiHeadAttention(16, 2).eval()
    x = torch.randn(2, 5, 16)
    mask = torch.randn(2, 2, 5, 5)
    mask[0, 1, 3] = float("-inf")  # one dead query row in one head
    a, _ = ours(x, attn_mask=mask, need_weights=True)
    b, _ = ours(x, attn_mask=mask)
    assert torch.isfinite(b).all()
    assert_close(a, b)


def test_fully_padded_sequence_gives_finite_output_and_grads():
    ours = MultiHeadAttention(16, 4)
    x = torch.randn(2, 4, 16, requires_grad=True)
    real = torch.tensor([[True] * 4, [False] * 4])
    for need_weights in (True, False):
        out, _ = ours(x, key_padding_mask=real, need_weights=need_weights)
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
        # the fully padded sequence only sees the output projection's bias
        assert_close(out[1], ours.out_proj.bias.expand(4, 16))
        x.grad = None


def test_matches_plain_sdpa_core():
    ours = MultiHeadAttention(24, 3).eval()
    x = torch.randn(2, 7, 24)
    split = lambda z: z.view(2, 7, 3, 8).transpose(1, 2)
    y = F.scaled_dot_product_attention(
        split(ours.q_proj(x)), split(ours.k_proj(x)), split(ours.v_proj(x))
    )
    expected = ours.out_proj(y.transpose(1, 2).reshape(2, 7, 24))
    assert_close(ours(x)[0], expected)


def test_additive_attention_shapes_and_mask():
    att = AdditiveAttention(query_dim=6, key_dim=10, hidden_dim=8)
    q, k, v = torch.randn(2, 3, 6), torch.randn(2, 5, 10), torch.randn(2, 5, 4)
    mask = torch.tensor([True, True, True, False, False])
    out, w = att(q, k, v, mask)
    assert out.shape == (2, 3, 4) and w.shape == (2, 3, 5)
    assert (w[..., 3:] == 0).all()
    assert_close(w.sum(-1), torch.ones(2, 3))


def test_sinusoidal_table_values():
    t = sinusoidal_encoding(50, 16)
    assert t.shape == (50, 16)
    pos, i = 7, 3
    assert_close(
        t[pos, 2 * i], torch.tensor(math.sin(pos / 10000 ** (2 * i / 16)))
    )
    assert_close(
        t[pos, 2 * i + 1], torch.tensor(math.cos(pos / 10000 ** (2 * i / 16)))
    )
    x = torch.zeros(2, 10, 16)
    assert_close(
        SinusoidalPositionalEncoding(16, max_len=50)(x, offset=3)[0], t[3:13]
    )


def test_learned_positional_embedding():
    pe = LearnedPositionalEmbedding(12, 8)
    x = torch.zeros(2, 5, 8)
    out = pe(x)
    assert_close(out[0], pe.emb.weight[:5])
    out.sum().backward()
    assert (
        pe.emb.weight.grad[:5].abs().sum() > 0
        and pe.emb.weight.grad[5:].abs().sum() == 0
    )


def test_rotary_scores_depend_only_on_offset():
    rope = RotaryEmbedding(8)
    q, k = torch.randn(1, 1, 8), torch.randn(1, 1, 8)

    def score(m, n):
        return (rope(q, offset=m) * rope(k, offset=n)).sum()

    assert_close(score(3, 1), score(10, 8))
    assert_close(score(0, 0), (q * k).sum())
    assert_close(rope(q, offset=4).norm(), q.norm())  # rotations keep the norm


ACCELERATORS = [
    d
    for d, ok in (
        ("cuda", torch.cuda.is_available()),
        ("mps", torch.backends.mps.is_available()),
    )
    if ok
]


@pytest.mark.skipif(
    not ACCELERATORS,
    reason="no GPU on this machine: the CPU tests above cover the code path",
)
@pytest.mark.parametrize("device", ACCELERATORS)
def test_same_results_on_accelerator(device):
    ours = MultiHeadAttention(32, 4).eval()
    x = torch.randn(2, 9, 32)
    real = torch.arange(9) < torch.tensor([9, 4])[:, None]
    expected, _ = ours(
        x, key_padding_mask=real, is_causal=True, need_weights=True
    )
    moved = ours.to(device)
    for need_weights in (True, False):
        out, _ = moved(
            x.to(device),
            key_padding_mask=real.to(device),
            is_causal=True,
            need_weights=need_weights,
        )
        assert_close(out.cpu(), expected, atol=1e-4, rtol=1e-3)
