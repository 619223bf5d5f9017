"""attnlib.models.transformer: blocks equal PyTorch's own layers; models train
and generate."""

import pytest
import torch
import torch.nn as nn
from torch.testing import assert_close

from attnlib.layers import MultiHeadAttention
from attnlib.models import teacher_forcing
from attnlib.models.transformer import (
    CausalLM,
    DecoderBlock,
    EncoderBlock,
    EncoderDecoder,
    TransformerConfig,
    sample_next,
)


def _copy_mha(ours: MultiHeadAttention, ref: nn.MultiheadAttention):
    src = MultiHeadAttention.from_torch(ref)
    ours.load_state_dict(src.state_dict())


# attnlib's LayerNorms, in torch's order norm1, norm2(, norm3)
_NORMS = {
    EncoderBlock: ("norm_attn", "norm_ff"),
    DecoderBlock: ("norm_attn", "norm_cross_attn", "norm_ff"),
}


def _copy_common(ours, ref):
    _copy_mha(ours.self_attn, ref.self_attn)
    ours.ff.linear1.load_state_dict(ref.linear1.state_dict())
    ours.ff.linear2.load_state_dict(ref.linear2.state_dict())
    for i, name in enumerate(_NORMS[type(ours)], start=1):
        getattr(ours, name).load_state_dict(
            getattr(ref, f"norm{i}").state_dict()
        )


def _block_pair(ours_cls, ref_cls, norm_first):
    """attnlib's block and torch's layer of the same sizes, with the same
    weights."""
    ref = ref_cls(
        32,
        4,
        64,
        dropout=0.0,
        activation="gelu",
        batch_first=True,
        norm_first=norm_first,
    ).eval()
    ours = ours_cls(32, 4, 64, norm_first=norm_first).eval()
    _copy_common(ours, ref)
    return ours, ref


@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_block_equals_torch(norm_first):
    ours, ref = _block_pair(
        EncoderBlock, nn.TransformerEncoderLayer, norm_first
    )
    x = torch.randn(3, 7, 32)
    real = torch.arange(7) < torch.tensor([7, 5, 2])[:, None]
    with torch.no_grad():
        expected = ref(x, src_key_padding_mask=~real)
        out, w = ours(x, key_padding_mask=real, need_weights=True)
    # torch zeroes padded positions in its fast path only; compare the real
    # ones
    assert_close(out[real], expected[real])
    assert w.shape == (3, 4, 7, 7)
    out_fast, none = ours(x, key_padding_mask=real)
    assert none is None
    assert_close(out_fast, out)


@pytest.mark.parametrize("norm_first", [True, False])
def test_decoder_block_equals_torch(norm_first):
    ours, ref = _block_pair(
        DecoderBlock, nn.TransformerDecoderLayer, norm_first
    )
    _copy_mha(ours.cross_attn, ref.multihead_attn)
    x, mem = torch.randn(2, 6, 32), torch.randn(2, 9, 32)
    mem_real = torch.arange(9) < torch.tensor([9, 4])[:, None]
    causal_block = torch.ones(6, 6, dtype=torch.bool).triu(1)
    with torch.no_grad():
        expected = ref(
            x, mem, tgt_mask=causal_block, memory_key_padding_mask=~mem_real
        )
        out, (w_self, w_cross) = ours(
            x, mem, memory_key_padding_mask=mem_real, need_weights=True
        )
    assert_close(out, expected)
    assert w_self.shape == (2, 4, 6, 6) and w_cross.shape == (2, 4, 6, 9)
    assert (w_self.triu(1) == 0).all() and (w_cross[1, :, :, 4:] == 0).all()


def test_causal_lm_is_causal_and_returns_weights():
    torch.manual_seed(0)
    lm = CausalLM(
        TransformerConfig(
            vocab_size=11, d_model=16, num_heads=2, num_layers=2, max_len=12
        )
    ).eval()
    idx = torch.randint(0, 11, (2, 8))
    logits, weights = lm(idx, need_weights=True)
    assert (
        logits.shape == (2, 8, 11)
        and len(weights) == 2
        and weights[0].shape == (2, 2, 8, 8)
    )
    changed = idx.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 11  # changing the future ...
    assert_close(
        lm(changed)[:, :5], logits[:, :5]
    )  # ... leaves earlier predictions alone
    assert lm.head.weight is lm.embed.tok.weight


def test_causal_lm_learns_a_repeating_pattern_and_generates_it():
    torch.manual_seed(0)
    cfg = TransformerConfig(
        vocab_size=5, d_model=32, num_heads=2, num_layers=1, max_len=16
    )
    lm = CausalLM(cfg)
    seq = torch.tensor([0, 1, 2, 3, 4] * 4)[:17]
    opt = torch.optim.AdamW(lm.parameters(), lr=1e-2)
    for _ in range(150):
        starts = torch.randint(0, 5, (8,))
        batch = torch.stack([torch.roll(seq, -int(s))[:16] for s in starts])
        loss = lm.loss(batch[:, :-1], batch[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    out = lm.generate(torch.tensor([[2, 3]]), 6, temperature=0)
    assert out.tolist() == [[2, 3, 4, 0, 1, 2, 3, 4]]
    g = torch.Generator().manual_seed(1)
    sampled = lm.generate(
        torch.tensor([[2, 3]]), 20, temperature=1.0, top_k=1, generator=g
    )
    assert sampled.shape == (
        1,
        22,
    )  # crops the context to max_len while generating


def test_sample_next_top_k_and_temperature():
    logits = torch.tensor([[0.0, 5.0, 4.0, -1.0]])
    assert sample_next(logits, temperature=0).item() == 1
    g = torch.Generator().manual_seed(0)
    picks = {
        sample_next(logits, top_k=2, generator=g).item() for _ in range(200)
    }
    assert picks == {1, 2}
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        sample_next(logits, temperature=-1)
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        sample_next(logits, top_k=0)


def test_encoder_decoder_learns_to_copy_reversed():
    torch.manual_seed(0)
    pad, bos, eos = 0, 1, 2
    cfg = TransformerConfig(
        vocab_size=10,
        d_model=32,
        num_heads=4,
        num_layers=1,
        num_decoder_layers=1,
        max_len=10,
        pad_id=pad,
        bos_id=bos,
        eos_id=eos,
    )
    model = EncoderDecoder(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(300):
        src = torch.randint(3, 10, (32, 5))
        tgt = torch.cat(
            [torch.full((32, 1), bos), src.flip(1), torch.full((32, 1), eos)],
            dim=1,
        )
        loss = model.loss(src, *teacher_forcing(tgt))
        opt.zero_grad()
        loss.backward()
        opt.step()
    src = torch.randint(3, 10, (64, 5))
    out = model.generate(src, 7)
    acc = (out[:, 1:6] == src.flip(1)).all(dim=1).float().mean().item()
    assert acc > 0.9
    _, weights = model(src[:2], out[:2, :-1], need_weights=True)
    assert weights["cross"][0].shape == (2, 4, out.shape[1] - 1, 5)
    assert weights["decoder"][0].shape == (
        2,
        4,
        out.shape[1] - 1,
        out.shape[1] - 1,
    )
    assert weights["encoder"][0].shape == (2, 4, 5, 5)


def test_config_and_input_errors():
    with pytest.raises(ValueError, match="num_heads=3 must divide d_model=16"):
        TransformerConfig(vocab_size=5, d_model=16, num_heads=3)
    with pytest.raises(ValueError, match="activation must be one of"):
        TransformerConfig(vocab_size=5, activation="swish")
    with pytest.raises(ValueError, match="vocab_size must be a positive int"):
        TransformerConfig(vocab_size=0)
    lm = CausalLM(
        TransformerConfig(
            vocab_size=5, d_model=8, num_heads=2, num_layers=1, max_len=4
        )
    )
    with pytest.raises(ValueError, match="idx has 5 tokens but max_len is 4"):
        lm(torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"ids outside \[0, 5\)"):
        lm(torch.tensor([[1, 7]]))
    with pytest.raises(TypeError, match="integer token ids"):
        lm(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="idx must be 2-D"):
        lm(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one token"):
        lm(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="targets must have the shape of idx"):
        lm.loss(
            torch.zeros(1, 3, dtype=torch.long),
            torch.zeros(1, 2, dtype=torch.long),
        )


@pytest.mark.parametrize("norm_first", [True, False])
def test_block_kernel_replaces_only_the_attention(norm_first):
    import torch.nn.functional as F

    from attnlib.models.transformer import EncoderBlock

    torch.manual_seed(0)
    block = EncoderBlock(16, 2, 32, norm_first=norm_first).eval()
    x = torch.randn(2, 5, 16)
    ref, _ = block(x)
    out, w = block(x, kernel=F.scaled_dot_product_attention)
    assert w is None
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
    zero, _ = block(
        x, kernel=lambda q, k, v, is_causal: torch.zeros_like(q)
    )  # no attention at all
    assert not torch.allclose(zero, ref)
