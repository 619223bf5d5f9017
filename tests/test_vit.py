"""attnlib.models.vit: patches, the Vision Transformer, attention rollout."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.testing import assert_close

from attnlib.models.vit import (
    PatchEmbedding,
    VisionTransformer,
    ViTConfig,
    attention_rollout,
    patchify,
)


def test_patchify_hand_case():
    img = torch.arange(16.0).view(1, 1, 4, 4)
    p = patchify(img, 2)
    assert p.shape == (1, 4, 4)
    assert p[0, 0].tolist() == [0, 1, 4, 5]  # top-left patch, row-major inside
    assert p[0, 1].tolist() == [2, 3, 6, 7]  # top-right patch
    assert p[0, 3].tolist() == [10, 11, 14, 15]  # bottom-right patch


def test_patchify_equals_unfold():
    x = torch.randn(2, 3, 8, 12)
    assert_close(
        patchify(x, 4), F.unfold(x, kernel_size=4, stride=4).transpose(1, 2)
    )


def test_patch_embedding_equals_conv_and_manual_unfold_linear():
    emb = PatchEmbedding(8, 4, 2, 16)
    x = torch.randn(3, 2, 8, 8)
    manual = (
        F.unfold(x, 4, stride=4).transpose(1, 2) @ emb.proj.weight.T
        + emb.proj.bias
    )
    assert_close(emb(x), manual)
    conv = nn.Conv2d(2, 16, 4, stride=4)
    with torch.no_grad():
        conv.weight.copy_(emb.proj.weight.view(16, 2, 4, 4))
        conv.bias.copy_(emb.proj.bias)
    assert_close(emb(x), conv(x).flatten(2).transpose(1, 2))


@pytest.mark.parametrize("patch,layers", [(4, 2), (2, 1), (8, 3)])
def test_vit_shapes_and_weights(patch, layers):
    cfg = ViTConfig(
        image_size=8,
        patch_size=patch,
        num_layers=layers,
        d_model=32,
        num_heads=4,
    )
    model = VisionTransformer(cfg).eval()
    x = torch.randn(5, 1, 8, 8)
    logits, weights = model(x, need_weights=True)
    n = 1 + (8 // patch) ** 2
    assert logits.shape == (5, 10) and len(weights) == layers
    for w in weights:
        assert w.shape == (5, 4, n, n)
        assert_close(w.sum(-1), torch.ones(5, 4, n))
    assert_close(model(x), logits)  # fused path = explicit path


def test_vit_learns_a_toy_task():
    torch.manual_seed(0)
    x = torch.randn(32, 1, 8, 8)
    y = (
        x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))
    ).long()  # top half brighter?
    model = VisionTransformer(
        ViTConfig(num_classes=2, d_model=16, num_heads=2, num_layers=1)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model(x).argmax(-1) == y).float().mean() > 0.95


def test_vit_param_count():
    cfg = ViTConfig(
        image_size=8,
        patch_size=4,
        d_model=16,
        num_heads=2,
        num_layers=1,
        d_ff=32,
    )
    model = VisionTransformer(cfg)
    d, p = 16, 5  # 1 class token + 4 patches
    expected = (
        (16 * d + d)
        + d
        + p * d
        + (4 * d * d + 4 * d)
        + (d * 32 + 32 + 32 * d + d)
        + 2 * 2 * d
        + 2 * d
        + (d * 10 + 10)
    )
    assert sum(t.numel() for t in model.parameters()) == expected


def test_rollout_hand_case():
    a1 = torch.tensor([[[[1.0, 0.0], [0.5, 0.5]]]])  # (1, 1, 2, 2)
    a2 = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    assert_close(attention_rollout([a1], residual=False), a1[:, 0])
    assert_close(
        attention_rollout([a1, a2], residual=False), a2[:, 0] @ a1[:, 0]
    )
    r1 = 0.5 * a1[:, 0] + 0.5 * torch.eye(2)
    r2 = 0.5 * a2[:, 0] + 0.5 * torch.eye(2)
    assert_close(attention_rollout([a1, a2]), r2 @ r1)


def test_rollout_rows_sum_to_one_and_head_fusion():
    ws = [torch.softmax(torch.randn(3, 4, 6, 6), -1) for _ in range(3)]
    for fusion in ("mean", "max", "min"):
        r = attention_rollout(ws, head_fusion=fusion)
        assert r.shape == (3, 6, 6)
        assert_close(r.sum(-1), torch.ones(3, 6))
        assert (r >= 0).all()
    uniform = [torch.full((1, 2, 5, 5), 0.2)] * 4
    assert_close(
        attention_rollout(uniform, residual=False), torch.full((1, 5, 5), 0.2)
    )


def test_rollout_of_vit_weights():
    model = VisionTransformer(ViTConfig(num_layers=3)).eval()
    _, ws = model(torch.randn(2, 1, 8, 8), need_weights=True)
    r = attention_rollout(ws)
    assert r.shape == (2, 5, 5)
    assert_close(r.sum(-1), torch.ones(2, 5))


VIT_BAD = [
    (
        "3-D images",
        torch.randn(2, 8, 8),
        ValueError,
        r"images must be 4-D \(batch, 1, 8, 8\).*grey-scale",
    ),
    (
        "wrong channels",
        torch.randn(2, 3, 8, 8),
        ValueError,
        r"\(batch, 1, 8, 8\) with 1 channel\(s\), got shape \(2, 3, 8, 8\)",
    ),
    (
        "wrong size",
        torch.randn(2, 1, 16, 16),
        ValueError,
        r"built for 8x8 images, got shape \(2, 1, 16, 16\)",
    ),
    (
        "integer",
        torch.ones(2, 1, 8, 8, dtype=torch.long),
        TypeError,
        r"floating-point",
    ),
    (
        "numpy",
        torch.randn(2, 1, 8, 8).numpy(),
        TypeError,
        r"images must be a torch.Tensor",
    ),
]


@pytest.mark.parametrize(
    "case,x,exc,pattern", VIT_BAD, ids=[c[0] for c in VIT_BAD]
)
def test_vit_bad_input(case, x, exc, pattern):
    model = VisionTransformer(ViTConfig())
    with pytest.raises(exc, match=pattern):
        model(x)


def test_bad_config_and_patchify():
    with pytest.raises(
        ValueError, match="patch_size=3 must divide image_size=8"
    ):
        ViTConfig(patch_size=3)
    with pytest.raises(ValueError, match="num_heads=3 must divide d_model=64"):
        ViTConfig(num_heads=3)
    with pytest.raises(ValueError, match="patch_size must be a positive int"):
        patchify(torch.randn(1, 1, 8, 8), 0)
    with pytest.raises(ValueError, match="divisible by patch_size=3"):
        patchify(torch.randn(1, 1, 8, 8), 3)
    with pytest.raises(TypeError, match="cfg must be a ViTConfig"):
        VisionTransformer({"patch_size": 4})


def test_rollout_bad_input():
    w = torch.softmax(torch.randn(2, 4, 5, 5), -1)
    with pytest.raises(TypeError, match="list of"):
        attention_rollout(w)
    with pytest.raises(ValueError, match="at least one"):
        attention_rollout([])
    with pytest.raises(
        ValueError, match=r"weights_per_layer\[0\] must be 4-D"
    ):
        attention_rollout([w[0]])
    with pytest.raises(
        ValueError, match=r"weights_per_layer\[1\] has shape \(2, 4, 6, 6\)"
    ):
        attention_rollout([w, torch.softmax(torch.randn(2, 4, 6, 6), -1)])
    with pytest.raises(ValueError, match="need_weights=True"):
        attention_rollout([None])
    with pytest.raises(ValueError, match="head_fusion"):
        attention_rollout([w], head_fusion="median")
    with pytest.raises(ValueError, match=r"\(batch, heads, n, n\)"):
        attention_rollout([torch.rand(1, 1, 3, 4)])
