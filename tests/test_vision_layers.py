"""attnlib.vision_layers: squeeze-and-excitation, CBAM spatial attention, the
non-local block."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.testing import assert_close

from attnlib.vision_layers import (
    NonLocalBlock,
    SpatialAttention,
    SqueezeExcitation,
    check_feature_map,
)


def test_se_gates_per_channel_in_unit_interval():
    se = SqueezeExcitation(6, reduction=2)
    x = torch.randn(3, 6, 5, 7)
    out, g = se(x, need_weights=True)
    assert g.shape == (3, 6) and out.shape == x.shape
    assert ((g > 0) & (g < 1)).all()
    assert_close(out, x * g[:, :, None, None])
    assert_close(se(x), out)


def test_se_matches_hand_computation():
    se = SqueezeExcitation(4, reduction=1)
    x = torch.randn(2, 4, 3, 3)
    s = x.mean(dim=(2, 3))
    h = torch.relu(s @ se.fc1.weight.T + se.fc1.bias)
    g = torch.sigmoid(h @ se.fc2.weight.T + se.fc2.bias)
    assert_close(se.gates(x), g)


def test_se_gate_depends_only_on_channel_means():
    se = SqueezeExcitation(3)
    x = torch.randn(2, 3, 4, 4)
    shuffled = x.flatten(2)[:, :, torch.randperm(16)].view_as(
        x
    )  # same means, different layout
    assert_close(se.gates(x), se.gates(shuffled))


def test_se_hidden_width():
    assert SqueezeExcitation(64, reduction=16).hidden == 4
    assert SqueezeExcitation(64, reduction=4).hidden == 16
    assert SqueezeExcitation(2, reduction=4, min_hidden=3).hidden == 3


def test_spatial_attention_map():
    sa = SpatialAttention(kernel_size=3, channels=5)
    x = torch.randn(2, 5, 6, 6)
    out, g = sa(x, need_weights=True)
    assert g.shape == (2, 1, 6, 6) and ((g > 0) & (g < 1)).all()
    pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
    assert_close(
        g,
        torch.sigmoid(
            F.conv2d(pooled, sa.conv.weight, sa.conv.bias, padding=1)
        ),
    )
    assert_close(out, x * g)


def test_nonlocal_zero_init_is_identity():
    block = NonLocalBlock(8)
    x = torch.randn(2, 8, 5, 4)
    z, w = block(x, need_weights=True)
    assert torch.equal(z, x)
    assert w.shape == (2, 20, 20)
    assert_close(w.sum(-1), torch.ones(2, 20))


def test_nonlocal_matches_explicit_attention():
    block = NonLocalBlock(6, inner_channels=3, zero_init=False)
    x = torch.randn(2, 6, 3, 4)
    z, w = block(x, need_weights=True)
    flat = lambda conv: conv(x).flatten(2).transpose(1, 2)  # (b, N, C')
    q, k, v = flat(block.theta), flat(block.phi), flat(block.g)
    ref_w = torch.softmax(q @ k.transpose(1, 2) / 3**0.5, dim=-1)
    y = (ref_w @ v).transpose(1, 2).reshape(2, 3, 3, 4)
    assert_close(w, ref_w)
    assert_close(z, x + block.out(y))
    assert_close(
        z,
        x
        + block.out(
            F.scaled_dot_product_attention(q, k, v)
            .transpose(1, 2)
            .reshape(2, 3, 3, 4)
        ),
    )


def test_nonlocal_is_permutation_equivariant_over_positions():
    block = NonLocalBlock(4, zero_init=False)
    x = torch.randn(1, 4, 3, 3)
    perm = torch.randperm(9)
    permuted = x.flatten(2)[:, :, perm].view_as(x)
    assert_close(block(permuted).flatten(2), block(x).flatten(2)[:, :, perm])


def test_nonlocal_trains():
    block = NonLocalBlock(4)
    x = torch.randn(2, 4, 3, 3)
    block(x).sum().backward()
    assert (
        block.out.weight.grad is not None
        and block.out.weight.grad.abs().sum() > 0
    )


def test_layers_in_sequential():
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        SqueezeExcitation(8),
        NonLocalBlock(8),
        SpatialAttention(3),
    )
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 8, 8, 8)


BAD = [
    (
        "3-D input",
        torch.randn(2, 8, 8),
        ValueError,
        r"x must be 4-D \(batch, 4, height, width\), got shape \(2, 8, 8\)",
    ),
    (
        "wrong channels",
        torch.randn(2, 3, 8, 8),
        ValueError,
        r"with 4 channels, got shape \(2, 3, 8, 8\)",
    ),
    (
        "integer",
        torch.ones(2, 4, 8, 8, dtype=torch.long),
        TypeError,
        r"x must be a floating-point tensor",
    ),
    (
        "not a tensor",
        [[1.0]],
        TypeError,
        r"x must be a torch.Tensor of shape \(batch, 4, height, width\)",
    ),
    ("empty map", torch.randn(2, 4, 0, 8), ValueError, r"at least one pixel"),
]


@pytest.mark.parametrize(
    "make",
    [
        lambda: SqueezeExcitation(4),
        lambda: NonLocalBlock(4),
        lambda: SpatialAttention(3, channels=4),
    ],
    ids=["se", "nonlocal", "spatial"],
)
@pytest.mark.parametrize("case,x,exc,pattern", BAD, ids=[c[0] for c in BAD])
def test_bad_input(make, case, x, exc, pattern):
    with pytest.raises(exc, match=pattern):
        make()(x)


def test_bad_construction():
    with pytest.raises(ValueError, match="channels must be a positive int"):
        SqueezeExcitation(0)
    with pytest.raises(ValueError, match="reduction must be a positive int"):
        SqueezeExcitation(8, reduction=0)
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        SpatialAttention(4)
    with pytest.raises(
        ValueError, match="inner_channels must be a positive int"
    ):
        NonLocalBlock(8, inner_channels=0)
    with pytest.raises(ValueError, match=r"grey-scale"):
        check_feature_map("images", torch.randn(2, 8, 8))
