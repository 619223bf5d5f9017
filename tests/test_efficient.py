"""attnlib.efficient: every kernel against exact attention
(attnlib.functional.attention)."""

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from attnlib.efficient import (
    attention_flops,
    elu_feature_map,
    linear_attention,
    local_attention,
    local_global_mask,
    naive_attention,
    peak_memory,
    tiled_attention,
)
from attnlib.functional import attention, causal_mask, masked_softmax
from attnlib.layers import KVCache
from attnlib.models.transformer import CausalLM, TransformerConfig


def qkv(*lead, n=37, n_k=None, d=8, d_v=6, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    n_k = n if n_k is None else n_k
    return (
        torch.randn(*lead, n, d, generator=g, dtype=dtype),
        torch.randn(*lead, n_k, d, generator=g, dtype=dtype),
        torch.randn(*lead, n_k, d_v, generator=g, dtype=dtype),
    )


# ----------------------------------------------------------------------- tiled
@pytest.mark.parametrize(
    "block_q,block_k", [(1, 1), (8, 5), (16, 64), (37, 37), (100, 100)]
)
@pytest.mark.parametrize("causal", [False, True])
def test_tiled_matches_exact_any_block_size(block_q, block_k, causal):
    q, k, v = qkv(2, 3)
    got = tiled_attention(
        q, k, v, is_causal=causal, block_q=block_q, block_k=block_k
    )
    assert_close(got, attention(q, k, v, is_causal=causal)[0])


def test_tiled_matches_sdpa_float32():
    q, k, v = qkv(2, 2, n=70, dtype=torch.float32)
    assert_close(
        tiled_attention(q, k, v, block_q=16, block_k=24),
        F.scaled_dot_product_attention(q, k, v),
        atol=1e-5,
        rtol=1e-4,
    )
    assert_close(
        naive_attention(q, k, v),
        F.scaled_dot_product_attention(q, k, v),
        atol=1e-5,
        rtol=1e-4,
    )


@pytest.mark.parametrize(
    "shape", [(37, 37), (1, 37), (2, 1, 37, 37), (2, 3, 37, 37), (2, 1, 1, 37)]
)
def test_tiled_bool_masks_broadcast(shape):
    q, k, v = qkv(2, 3)
    mask = torch.rand(shape, generator=torch.Generator().manual_seed(1)) > 0.4
    for causal in (False, True):
        assert_close(
            tiled_attention(
                q, k, v, mask, is_causal=causal, block_q=8, block_k=5
            ),
            attention(q, k, v, mask, is_causal=causal)[0],
        )


def test_tiled_float_mask_and_scale():
    q, k, v = qkv(2, n=20)
    fmask = torch.randn(20, 20, dtype=torch.float64)
    fmask[3, :] = float("-inf")
    assert_close(
        tiled_attention(q, k, v, fmask, scale=0.3, block_q=6, block_k=7),
        attention(q, k, v, fmask, scale=0.3)[0],
    )


def test_tiled_fully_masked_rows_are_zero_not_nan():
    q, k, v = qkv(1, n=20)
    mask = torch.ones(20, 20, dtype=torch.bool)
    mask[[0, 7, 19]] = False  # three queries that may attend to nothing
    for causal in (False, True):
        out = tiled_attention(
            q, k, v, mask, is_causal=causal, block_q=4, block_k=6
        )
        assert not torch.isnan(out).any()
        assert_close(out, attention(q, k, v, mask, is_causal=causal)[0])
        assert (out[:, [0, 7, 19]] == 0).all()
    # gradients of fully masked rows: zero, not NaN
    qq, kk, vv = (t.clone().requires_grad_() for t in (q, k, v))
    tiled_attention(qq, kk, vv, mask, block_q=4, block_k=6).sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (qq, kk, vv))


def test_tiled_cross_attention_lengths_and_bottom_right_causal():
    q, k, v = qkv(2, n=5, n_k=23)  # 5 queries = the last 5 of 23 positions
    for causal in (False, True):
        assert_close(
            tiled_attention(q, k, v, is_causal=causal, block_q=2, block_k=4),
            attention(q, k, v, is_causal=causal)[0],
        )
    q, k, v = qkv(
        2, n=23, n_k=5
    )  # more queries than keys: early rows see nothing
    assert_close(
        tiled_attention(q, k, v, is_causal=True, block_q=4, block_k=2),
        attention(q, k, v, is_causal=True)[0],
    )


def test_tiled_backward_matches_autograd_of_exact():
    q, k, v = qkv(2, 2, n=30)
    mask = torch.rand(30, 30, generator=torch.Generator().manual_seed(3)) > 0.3
    g = torch.randn(2, 2, 30, 6, dtype=torch.float64)
    grads = []
    for fn in (
        lambda a, b, c: tiled_attention(
            a, b, c, mask, is_causal=True, block_q=7, block_k=9
        ),
        lambda a, b, c: attention(a, b, c, mask, is_causal=True)[0],
    ):
        a, b, c = (t.clone().requires_grad_() for t in (q, k, v))
        (fn(a, b, c) * g).sum().backward()
        grads.append((a.grad, b.grad, c.grad))
    for got, want in zip(*grads):
        assert_close(got, want)


def test_tiled_gradcheck():
    q, k, v = (t.requires_grad_() for t in qkv(1, n=6, d=3, d_v=2))
    assert torch.autograd.gradcheck(
        lambda a, b, c: tiled_attention(
            a, b, c, is_causal=True, block_q=4, block_k=4
        ),
        (q, k, v),
    )


def test_tiled_bad_input():
    q, k, v = qkv(2, n=10)
    with pytest.raises(ValueError, match="block_q"):
        tiled_attention(q, k, v, block_q=0)
    with pytest.raises(ValueError, match="block_k"):
        tiled_attention(q, k, v, block_k=2.5)
    with pytest.raises(ValueError, match="mask"):
        tiled_attention(q, k, v, torch.ones(10, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        tiled_attention(q, k, v, torch.ones(3, 10, 10, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask"):
        tiled_attention(q, k, v, torch.ones(10, 10, dtype=torch.long))
    with pytest.raises(ValueError, match="feature size"):
        tiled_attention(q, k[..., :4], v)
    with pytest.raises(ValueError, match="same number of keys"):
        tiled_attention(q, k, v[:, :9])
    with pytest.raises(TypeError, match="q must be a torch.Tensor"):
        tiled_attention(q.tolist(), k, v)


def test_tiled_memory_is_a_tile_not_n_squared():
    q, k, v = qkv(1, 1, n=1024, d=16, d_v=16, dtype=torch.float32)
    naive_peak, _ = peak_memory(lambda: naive_attention(q, k, v))
    tiled_peak, _ = peak_memory(
        lambda: tiled_attention(q, k, v, block_q=128, block_k=128)
    )
    assert (
        naive_peak >= 2 * 1024 * 1024 * 4
    )  # scores and weights: two n x n float32 matrices
    assert tiled_peak < naive_peak / 16


# -------------------------------------------------------------- local / sparse
def test_local_global_mask_by_hand():
    m = local_global_mask(5, 2)
    expected = torch.tensor(
        [
            [1, 1, 0, 0, 0],
            [1, 1, 1, 0, 0],
            [0, 1, 1, 1, 0],
            [0, 0, 1, 1, 1],
            [0, 0, 0, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(m, expected)
    assert torch.equal(
        local_global_mask(5, 2, causal=True), expected & causal_mask(5)
    )
    mg = local_global_mask(5, 1, global_tokens=[0])
    assert (
        mg[0].all()
        and mg[:, 0].all()
        and mg[1:, 1:].equal(torch.eye(4, dtype=torch.bool))
    )


@pytest.mark.parametrize("window", [1, 3, 8, 36, 37, 500])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("global_tokens", [None, [0], [0, 20, 36]])
def test_local_matches_exact_with_pattern_mask(window, causal, global_tokens):
    q, k, v = qkv(2, 2)
    pattern = local_global_mask(
        37, window, causal=causal, global_tokens=global_tokens
    )
    got = local_attention(
        q,
        k,
        v,
        window,
        is_causal=causal,
        global_tokens=global_tokens,
        block_size=8,
    )
    assert_close(got, attention(q, k, v, pattern)[0])


def test_local_window_longer_than_sequence_is_full_attention():
    q, k, v = qkv(2, n=12)
    for causal in (False, True):
        assert_close(
            local_attention(q, k, v, 100, is_causal=causal, block_size=5),
            attention(q, k, v, is_causal=causal)[0],
        )


def test_local_with_extra_mask_and_dead_rows_and_grad():
    q, k, v = qkv(2, n=25)
    mask = torch.ones(2, 25, dtype=torch.bool)
    mask[1, 10:] = False  # padding of the second sequence
    kpm = mask[:, None, :]  # (batch, 1, n_k)
    pattern = local_global_mask(25, 3)
    out = local_attention(q, k, v, 3, kpm, block_size=4)
    assert_close(out, attention(q, k, v, pattern & kpm)[0])
    assert (
        not torch.isnan(out).any() and (out[1, 13:] == 0).all()
    )  # queries 13.. see only padding
    a, b, c = (t.clone().requires_grad_() for t in (q, k, v))
    local_attention(
        a, b, c, 3, kpm, is_causal=True, block_size=4
    ).sum().backward()
    a2, b2, c2 = (t.clone().requires_grad_() for t in (q, k, v))
    attention(a2, b2, c2, pattern & kpm, is_causal=True)[0].sum().backward()
    assert_close(a.grad, a2.grad)
    assert_close(b.grad, b2.grad)
    assert_close(c.grad, c2.grad)


def test_local_bad_input():
    q, k, v = qkv(2, n=10)
    for bad in (0, -3, 2.5, None, True):
        with pytest.raises(ValueError, match="window"):
            local_attention(q, k, v, bad)
    with pytest.raises(ValueError, match="block_size"):
        local_attention(q, k, v, 3, block_size=0)
    with pytest.raises(ValueError, match="global_tokens"):
        local_attention(q, k, v, 3, global_tokens=[10])
    with pytest.raises(TypeError, match="global_tokens"):
        local_attention(q, k, v, 3, global_tokens=torch.tensor([0.5]))
    with pytest.raises(ValueError, match="mask"):
        local_attention(q, k, v, 3, torch.ones(2, 11, dtype=torch.bool))
    with pytest.raises(ValueError, match="window"):
        local_global_mask(5, 0)


# ---------------------------------------------------------------------- linear
def kernel_reference(q, k, v, mask=None):
    """Linear attention written as softmax attention with scores log(phi(q) .
    phi(k))."""
    scores = torch.log(
        elu_feature_map(q) @ elu_feature_map(k).transpose(-2, -1)
    )
    return masked_softmax(scores, mask) @ v


@pytest.mark.parametrize("chunk", [1, 5, 16, 37, 128])
def test_linear_causal_matches_quadratic_form(chunk):
    q, k, v = qkv(2, 3)
    assert_close(
        linear_attention(q, k, v, is_causal=True, chunk_size=chunk),
        kernel_reference(q, k, v, causal_mask(37)),
    )


def test_linear_noncausal_and_padding():
    q, k, v = qkv(2, n=9, n_k=14)
    assert_close(linear_attention(q, k, v), kernel_reference(q, k, v))
    kpm = torch.ones(2, 14, dtype=torch.bool)
    kpm[0, 5:] = False
    kpm[1, :] = False  # a sequence with no real key at all
    out = linear_attention(q, k, v, key_padding_mask=kpm)
    assert not torch.isnan(out).any() and (out[1] == 0).all()
    assert_close(
        out[0], kernel_reference(q[:1], k[:1], v[:1], kpm[:1, None, :])[0]
    )


def test_linear_causal_by_explicit_prefix_sums():
    q, k, v = qkv(1, n=6, d=2, d_v=3)
    fq, fk = elu_feature_map(q[0]), elu_feature_map(k[0])
    rows = []
    for i in range(6):
        s = sum(torch.outer(fk[j], v[0, j]) for j in range(i + 1))
        z = sum(fk[j] for j in range(i + 1))
        rows.append((fq[i] @ s) / (fq[i] @ z))
    assert_close(
        linear_attention(q, k, v, is_causal=True, chunk_size=4)[0],
        torch.stack(rows),
    )


def test_linear_is_differentiable_and_bad_input():
    q, k, v = (t.requires_grad_() for t in qkv(1, n=5, d=3, d_v=2))
    assert torch.autograd.gradcheck(
        lambda a, b, c: linear_attention(
            a, b, c, is_causal=True, chunk_size=2
        ),
        (q, k, v),
    )
    q, k, v = qkv(2, n=8, n_k=10)
    with pytest.raises(ValueError, match="n_q == n_k"):
        linear_attention(q, k, v, is_causal=True)
    with pytest.raises(ValueError, match="key_padding_mask"):
        linear_attention(
            q, k, v, key_padding_mask=torch.ones(2, 9, dtype=torch.bool)
        )
    with pytest.raises(ValueError, match="key_padding_mask"):
        linear_attention(
            q, k, v, key_padding_mask=torch.ones(2, 8, 10, dtype=torch.bool)
        )
    with pytest.raises(TypeError, match="key_padding_mask"):
        linear_attention(q, k, v, key_padding_mask=torch.ones(2, 10))
    with pytest.raises(ValueError, match="chunk_size"):
        linear_attention(q, k, v, chunk_size=0)


# ---------------------------------------------------------------- KV cache, LM
def small_lm(norm_first=True, max_len=24, seed=0):
    torch.manual_seed(seed)
    cfg = TransformerConfig(
        vocab_size=30,
        d_model=16,
        num_heads=2,
        num_layers=2,
        max_len=max_len,
        norm_first=norm_first,
    )
    model = CausalLM(cfg).eval()
    with torch.no_grad():  # sharpen the random model so that tokens vary
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


def generate_cached(model, idx, n, **kw):
    return model.generate(idx, n, use_cache=True, **kw)


@pytest.mark.parametrize("norm_first", [True, False])
def test_kv_cache_greedy_and_sampled_tokens_identical(norm_first):
    model = small_lm(norm_first)
    idx = torch.randint(
        0, 30, (3, 4), generator=torch.Generator().manual_seed(5)
    )
    # 30 new tokens: past max_len = 24, so the sliding-window fallback is
    # covered too
    assert torch.equal(
        generate_cached(model, idx, 30, temperature=0),
        model.generate(idx, 30, temperature=0),
    )
    for top_k in (None, 5):
        a = generate_cached(
            model,
            idx,
            30,
            temperature=0.8,
            top_k=top_k,
            generator=torch.Generator().manual_seed(1),
        )
        b = model.generate(
            idx,
            30,
            temperature=0.8,
            top_k=top_k,
            generator=torch.Generator().manual_seed(1),
        )
        assert torch.equal(a, b)


def test_kv_cache_long_prompt_and_zero_tokens_and_mode():
    model = small_lm(max_len=10)
    model.train()
    idx = torch.randint(
        0, 30, (1, 15), generator=torch.Generator().manual_seed(2)
    )  # longer than max_len
    assert torch.equal(
        generate_cached(model, idx, 4, temperature=0),
        model.generate(idx, 4, temperature=0),
    )
    assert torch.equal(generate_cached(model, idx, 0), idx)
    assert model.training  # restored


def test_cached_forward_equals_full_forward():
    """Logits of the prompt and then one token at a time, read from a cache,
    are the full forward's logits position by position."""
    model = small_lm()
    x = torch.randint(
        0, 30, (2, 12), generator=torch.Generator().manual_seed(3)
    )
    full = model(x)
    cache = model.new_cache(2)
    parts = [model(x[:, :5], cache=cache)]
    parts += [model(x[:, t : t + 1], cache=cache) for t in range(5, 12)]
    assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-4)
    assert cache[0].length == 12


def test_kv_cache_class_and_bad_input():
    cache = KVCache(1, 2, 4, capacity=3)
    k = torch.randn(1, 2, 2, 4)
    keys, values = cache.append(k, k + 1)
    assert_close(keys, k) and assert_close(values, k + 1)
    keys, _ = cache.append(k[:, :, :1], k[:, :, :1])
    assert keys.shape == (1, 2, 3, 4) and cache.length == 3
    assert cache.nbytes() == 2 * (1 * 2 * 3 * 4) * 4
    with pytest.raises(ValueError, match="cache holds 3"):
        cache.append(torch.randn(1, 2, 1, 4), torch.randn(1, 2, 1, 4))
    with pytest.raises(ValueError, match="head_dim"):
        KVCache(1, 2, 4, capacity=3).append(
            torch.randn(1, 2, 1, 5), torch.randn(1, 2, 1, 5)
        )
    with pytest.raises(ValueError, match="capacity"):
        KVCache(1, 1, 1, capacity=0)
    model = small_lm()
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(torch.zeros(1, 2, dtype=torch.long), -1)
    with pytest.raises(ValueError, match="idx"):
        model.generate(torch.zeros(2, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="one KVCache per layer"):
        model(torch.zeros(1, 2, dtype=torch.long), cache=[cache])
    with pytest.raises(ValueError, match="one KVCache per layer"):
        model(torch.zeros(1, 2, dtype=torch.long), cache=[1, 2])
    with pytest.raises(TypeError, match="cache must be a KVCache"):
        model.blocks[0].self_attn(torch.zeros(1, 2, 16), cache=[1])


def test_model_runs_with_swapped_kernels():
    model = small_lm()
    x = torch.randint(
        0, 30, (2, 24), generator=torch.Generator().manual_seed(4)
    )
    ref = model(x)
    assert_close(
        model(x, kernel=F.scaled_dot_product_attention),
        ref,
        atol=1e-5,
        rtol=1e-4,
    )
    assert_close(
        model(
            x,
            kernel=lambda q, k, v, is_causal: tiled_attention(
                q, k, v, is_causal=is_causal, block_q=5, block_k=7
            ),
        ),
        ref,
        atol=1e-5,
        rtol=1e-4,
    )
    assert_close(
        model(x, kernel=partial(local_attention, window=24, block_size=5)),
        ref,
        atol=1e-5,
        rtol=1e-4,
    )
    lin = model(x, kernel=linear_attention)
    assert lin.shape == ref.shape and not torch.allclose(
        lin, ref, atol=1e-3
    )  # an approximation
    with pytest.raises(TypeError, match="kernel must be a function"):
        model(x, kernel=3)
    with pytest.raises(ValueError, match="a kernel sees only is_causal"):
        model(x, kernel=linear_attention, need_weights=True)


# --------------------------------------------------------------------- helpers
def test_peak_memory_counts_a_known_allocation():
    peak, out = peak_memory(lambda: torch.ones(1000, 1000))
    assert out.shape == (1000, 1000)
    assert peak == 4 * 1000 * 1000
    peak2, _ = peak_memory(
        lambda: (torch.ones(1000, 1000) * 2).sum()
    )  # two 4 MB temporaries at once
    assert peak2 >= 2 * 4 * 1000 * 1000


def test_attention_flops():
    assert attention_flops(4, 5, 3) == 2 * 4 * 5 * 6
    assert attention_flops(2, 2, 8, 1) == 2 * 2 * 2 * 9
    assert math.isclose(
        attention_flops(1024, 1024, 64) / attention_flops(512, 512, 64), 4
    )


def test_bench_kernel_rows_small():
    from attnlib.bench_kernels import efficient_kernel_rows, efficient_metrics

    rows = efficient_kernel_rows(ns=(256,))
    assert [r["name"] for r in rows] == [
        "attn_naive",
        "attn_tiled",
        "attn_sdpa",
        "attn_linear",
        "attn_local",
    ]
    assert all(
        set(r) == {"name", "n", "ms", "peak_mb", "rounds_ms"}
        and r["n"] == 256
        and r["ms"] > 0
        for r in rows
    )
    naive = rows[0]["peak_mb"]
    assert naive >= 2 * 256 * 256 * 4 / 2**20  # two n x n float32 matrices
    metrics = efficient_metrics(rows)
    assert set(metrics) == {
        "tiled_mem_ratio_256",
        "tiled_time_vs_naive_256",
        "tiled_time_vs_sdpa_256",
    }
    assert all(len(r["rounds_ms"]) == 5 for r in rows)
    from attnlib.bench_kernels import efficient_ratio_spreads

    spreads = efficient_ratio_spreads(rows)
    assert set(spreads) == {"tiled/naive@256", "tiled/sdpa@256"}
    assert (
        metrics["tiled_time_vs_sdpa_256"]
        == (spreads["tiled/sdpa@256"]["median"])
    )
    with pytest.raises(ValueError, match="n must be"):
        efficient_kernel_rows(ns=(0,))
    with pytest.raises(ValueError, match="unknown kernels"):
        efficient_kernel_rows(ns=(8,), kernels=("fast",))
