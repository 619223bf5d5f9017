"""The bad-input matrix: each mistake raises ValueError/TypeError naming the
argument and the expected shape, instead of failing deep inside a matmul."""

import pytest
import torch

from attnlib.functional import (
    additive_scores,
    attention,
    masked_softmax,
    padding_mask,
)
from attnlib.layers import (
    AdditiveAttention,
    MultiHeadAttention,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
)

q, k, v = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 4)


class _Meta:
    """Stands in for a tensor on another device without needing a GPU."""


ATTENTION_CASES = [
    (
        "wrong rank",
        dict(q=torch.randn(8), k=k, v=v),
        ValueError,
        r"q must have at least 2 dimensions, got shape \(8\)",
    ),
    (
        "feature mismatch",
        dict(q=torch.randn(2, 5, 6), k=k, v=v),
        ValueError,
        r"q has feature size 6 but k has 8",
    ),
    (
        "batch mismatch",
        dict(q=torch.randn(3, 5, 8), k=k, v=v),
        ValueError,
        r"leading \(batch, head\) sizes",
    ),
    (
        "rank mismatch",
        dict(q=torch.randn(1, 2, 5, 8), k=k, v=v),
        ValueError,
        r"same rank",
    ),
    (
        "key/value length",
        dict(q=q, k=k, v=torch.randn(2, 6, 4)),
        ValueError,
        r"expected v \(\.\.\., 7, d_v\)",
    ),
    (
        "integer input",
        dict(q=q.long(), k=k, v=v),
        TypeError,
        r"q must be a floating-point tensor",
    ),
    (
        "not a tensor",
        dict(q=q.tolist(), k=k, v=v),
        TypeError,
        r"q must be a torch.Tensor",
    ),
    (
        "zero-length keys",
        dict(q=q, k=torch.randn(2, 0, 8), v=torch.randn(2, 0, 4)),
        ValueError,
        r"at least one position",
    ),
    (
        "zero-length queries",
        dict(q=torch.randn(2, 0, 8), k=k, v=v),
        ValueError,
        r"at least one position",
    ),
    (
        "mask wrong shape",
        dict(q=q, k=k, v=v, mask=torch.ones(5, 6, dtype=torch.bool)),
        ValueError,
        r"mask has shape \(5, 6\), which does not broadcast "
        r"to the scores' shape \(2, 5, 7\)",
    ),
    (
        "mask too many dims",
        dict(q=q, k=k, v=v, mask=torch.ones(1, 1, 5, 7, dtype=torch.bool)),
        ValueError,
        r"mask has shape \(1, 1, 5, 7\)",
    ),
    (
        "mask int dtype",
        dict(q=q, k=k, v=v, mask=torch.ones(5, 7, dtype=torch.int64)),
        TypeError,
        r"mask must be a bool tensor .* got dtype torch.int64",
    ),
    (
        "bad score name",
        dict(q=q, k=k, v=v, score="cosine"),
        ValueError,
        r"score must be",
    ),
    (
        "bad dropout",
        dict(q=q, k=k, v=v, dropout_p=1.5),
        ValueError,
        r"dropout_p must be in",
    ),
]


@pytest.mark.parametrize(
    "case,kwargs,exc,pattern",
    ATTENTION_CASES,
    ids=[c[0] for c in ATTENTION_CASES],
)
def test_attention_bad_input(case, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        attention(**kwargs)


def test_devices_must_match():
    meta_k = torch.randn(2, 7, 8, device="meta")
    with pytest.raises(ValueError, match=r"k is on meta but q is on cpu"):
        attention(q, meta_k, v)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"on meta"):
        mha(torch.randn(2, 5, 8, device="meta"))


def test_masked_softmax_bad_input():
    with pytest.raises(
        TypeError, match="scores must be a floating-point tensor"
    ):
        masked_softmax(torch.ones(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"mask has shape \(3, 5\)"):
        masked_softmax(torch.randn(3, 4), torch.ones(3, 5, dtype=torch.bool))


def test_additive_scores_bad_weights():
    with pytest.raises(ValueError, match=r"w_q must be \(h, 8\)"):
        additive_scores(
            q, k, torch.randn(4, 6), torch.randn(4, 8), torch.randn(4)
        )
    with pytest.raises(ValueError, match="share the hidden size"):
        additive_scores(
            q, k, torch.randn(4, 8), torch.randn(4, 8), torch.randn(3)
        )
    with pytest.raises(ValueError, match=r"v must be"):
        AdditiveAttention(8, 8, 4)(q, k, torch.randn(2, 6, 4))


MHA_CASES = [
    (
        "query 2-D",
        dict(query=torch.randn(5, 16)),
        ValueError,
        r"query must be 3-D, got shape \(5, 16\)",
    ),
    (
        "wrong d_model",
        dict(query=torch.randn(2, 5, 12)),
        ValueError,
        r"query must be \(batch, n_q, 16\)",
    ),
    (
        "key width",
        dict(query=torch.randn(2, 5, 16), key=torch.randn(2, 6, 8)),
        ValueError,
        r"key must be \(batch, n_k, 16\)",
    ),
    (
        "batch mismatch",
        dict(query=torch.randn(2, 5, 16), key=torch.randn(3, 6, 16)),
        ValueError,
        r"share the batch size",
    ),
    (
        "key/value length",
        dict(
            query=torch.randn(2, 5, 16),
            key=torch.randn(2, 6, 16),
            value=torch.randn(2, 4, 16),
        ),
        ValueError,
        r"same number of positions",
    ),
    (
        "empty sequence",
        dict(query=torch.randn(2, 0, 16)),
        ValueError,
        r"at least one position",
    ),
    (
        "padding mask shape",
        dict(
            query=torch.randn(2, 5, 16),
            key_padding_mask=torch.ones(2, 4, dtype=torch.bool),
        ),
        ValueError,
        r"key_padding_mask must be \(batch, n_k\) = \(2, 5\), got \(2, 4\)",
    ),
    (
        "padding mask dtype",
        dict(query=torch.randn(2, 5, 16), key_padding_mask=torch.ones(2, 5)),
        TypeError,
        r"key_padding_mask must be a bool tensor",
    ),
    (
        "attn mask shape",
        dict(
            query=torch.randn(2, 5, 16),
            attn_mask=torch.ones(4, 5, dtype=torch.bool),
        ),
        ValueError,
        r"attn_mask has shape \(4, 5\), which does not broadcast "
        r"to the scores' shape \(2, 4, 5, 5\)",
    ),
    (
        "attn mask dtype",
        dict(
            query=torch.randn(2, 5, 16),
            attn_mask=torch.ones(5, 5, dtype=torch.int32),
        ),
        TypeError,
        r"attn_mask must be a bool tensor",
    ),
    (
        "integer query",
        dict(query=torch.ones(2, 5, 16, dtype=torch.long)),
        TypeError,
        r"query must be a floating-point tensor",
    ),
]


@pytest.mark.parametrize(
    "case,kwargs,exc,pattern", MHA_CASES, ids=[c[0] for c in MHA_CASES]
)
def test_multihead_bad_input(case, kwargs, exc, pattern):
    mha = MultiHeadAttention(16, 4)
    with pytest.raises(exc, match=pattern):
        mha(**kwargs)


def test_multihead_constructor_checks():
    with pytest.raises(
        ValueError, match=r"num_heads=5 must divide d_model=16"
    ):
        MultiHeadAttention(16, 5)
    with pytest.raises(ValueError, match="d_model must be a positive int"):
        MultiHeadAttention(0, 1)
    with pytest.raises(ValueError, match="dropout must be in"):
        MultiHeadAttention(16, 4, dropout=1.0)
    with pytest.raises(
        TypeError, match="mha must be torch.nn.MultiheadAttention"
    ):
        MultiHeadAttention.from_torch(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="batch_first=True"):
        MultiHeadAttention.from_torch(torch.nn.MultiheadAttention(8, 2))


def test_positional_and_mask_helpers_bad_input():
    with pytest.raises(ValueError, match="exceeds max_len=8"):
        SinusoidalPositionalEncoding(4, max_len=8)(torch.zeros(1, 9, 4))
    with pytest.raises(ValueError, match=r"x must be \(batch, n, 4\)"):
        SinusoidalPositionalEncoding(4, max_len=8)(torch.zeros(1, 3, 6))
    with pytest.raises(ValueError, match="head_dim must be even"):
        RotaryEmbedding(7)
    with pytest.raises(ValueError, match="lengths must be 1-D"):
        padding_mask(torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="lengths must be an integer tensor"):
        padding_mask(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="shorter than the longest"):
        padding_mask([3, 5], max_len=4)


def _nan_mask_callers():
    from attnlib import MultiHeadAttention
    from attnlib.efficient import local_attention, tiled_attention

    q = torch.randn(2, 5, 8)
    k = v = torch.randn(2, 7, 8)
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, 5, 8)
    return {
        "masked_softmax": lambda m: masked_softmax(torch.randn(2, 5, 7), m),
        "attention": lambda m: attention(q, k, v, mask=m),
        "local_attention": lambda m: local_attention(q, k, v, 3, mask=m),
        "tiled_attention": lambda m: tiled_attention(q, k, v, mask=m),
        "MultiHeadAttention": lambda m: mha(x, attn_mask=m[:, :, :5]),
    }


@pytest.mark.parametrize("caller", sorted(_nan_mask_callers()))
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_float_mask_with_nan_or_plus_inf_is_rejected(caller, bad):
    mask = torch.zeros(2, 5, 7)
    mask[0, 1, 2] = bad
    with pytest.raises(ValueError, match=r"mask holds NaN or \+inf"):
        _nan_mask_callers()[caller](mask)


@pytest.mark.parametrize("caller", sorted(_nan_mask_callers()))
def test_float_mask_minus_inf_still_means_blocked(caller):
    mask = torch.zeros(2, 5, 7)
    mask[..., 0] = float("-inf")
    out = _nan_mask_callers()[caller](mask)
    out = out[0] if isinstance(out, tuple) else out
    assert torch.isfinite(out).all()
