"""A small Vision Transformer (Dosovitskiy et al., 2021) and attention rollout.

* :func:`patchify`: cut images ``(batch, C, H, W)`` into flattened
  non-overlapping patches ``(batch, num_patches, C * p * p)``, row-major.
* :class:`PatchEmbedding`: a linear map of every flattened patch to
  ``d_model`` features (the same as a convolution with kernel size = stride
  = patch size, tested equal).
* :class:`ViTConfig`, :class:`VisionTransformer`: patch embedding, a learnable
  class token, learned position embeddings, pre-norm encoder blocks (from
  :mod:`attnlib.models.transformer`), a final LayerNorm and a linear head on
  the class token. ``forward(images, need_weights=True)`` also returns each
  layer's per-head attention weights
  ``(batch, heads, 1 + num_patches, 1 + num_patches)``.
* :func:`attention_rollout` (Abnar & Zuidema, 2020): how much each input token
  flows into each output token through all layers, for any stack of
  ``(batch, heads, n, n)`` attention weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import (
    check_images,
    check_positive_int,
    check_tensor,
    shape_str,
)
from .contract import ModelOutput, check_config
from .transformer import EncoderBlock

__all__ = [
    "patchify",
    "PatchEmbedding",
    "ViTConfig",
    "VisionTransformer",
    "attention_rollout",
]


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``(batch, C, H, W)`` -> ``(batch, (H/p) * (W/p), C * p * p)``.

    Patches are ordered row by row; inside a patch the features are ordered
    channel, then row, then column (as ``torch.nn.functional.unfold`` does).
    """
    if (
        not isinstance(patch_size, int)
        or isinstance(patch_size, bool)
        or patch_size <= 0
    ):
        raise ValueError(
            f"patch_size must be a positive int, got {patch_size!r}"
        )
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            "images must be a torch.Tensor of shape (batch, channels, "
            f"height, width), got {type(images).__name__}"
        )
    check_images(
        "images",
        images,
        channels=images.shape[1] if images.dim() == 4 else -1,
        dtype_hint=True,
        channel_noun="channel(s)",
    )
    b, c, h, w = images.shape
    if h % patch_size or w % patch_size:
        raise ValueError(
            f"images of size {h}x{w} cannot be cut into "
            f"{patch_size}x{patch_size} patches: height and width must be "
            f"divisible by patch_size={patch_size}"
        )
    p = patch_size
    x = images.reshape(b, c, h // p, p, w // p, p)  # (b, C, rows, p, cols, p)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (b, rows, cols, C, p, p)
    return x.reshape(b, (h // p) * (w // p), c * p * p)


class PatchEmbedding(nn.Module):
    """Cut images into ``patch_size`` x ``patch_size`` patches and map each to
    ``d_model`` features."""

    def __init__(
        self, image_size: int, patch_size: int, in_channels: int, d_model: int
    ):
        super().__init__()
        for name, value in (
            ("image_size", image_size),
            ("patch_size", patch_size),
            ("in_channels", in_channels),
            ("d_model", d_model),
        ):
            check_positive_int(name, value)
        if image_size % patch_size:
            raise ValueError(
                f"patch_size={patch_size} must divide image_size={image_size}"
            )
        self.image_size, self.patch_size, self.in_channels = (
            image_size,
            patch_size,
            in_channels,
        )
        self.num_patches = (image_size // patch_size) ** 2
        self.proj = nn.Linear(in_channels * patch_size * patch_size, d_model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(batch, C, S, S)`` -> ``(batch, num_patches, d_model)``."""
        check_images(
            "images",
            images,
            channels=self.in_channels,
            size=self.image_size,
            dtype_hint=True,
            channel_noun="channel(s)",
        )
        return self.proj(patchify(images, self.patch_size))


@dataclass
class ViTConfig:
    """Sizes of a :class:`VisionTransformer`. ``d_ff`` defaults to
    ``4 * d_model``, as in every attnlib model."""

    image_size: int = 8
    patch_size: int = 4
    in_channels: int = 1
    num_classes: int = 10
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int | None = None
    dropout: float = 0.0
    layer_norm_eps: float = 1e-5

    def __post_init__(self):
        check_config(
            self,
            positive=(
                "image_size",
                "patch_size",
                "in_channels",
                "num_classes",
            ),
        )
        if self.image_size % self.patch_size:
            raise ValueError(
                f"patch_size={self.patch_size} must divide "
                f"image_size={self.image_size}"
            )

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class VisionTransformer(nn.Module):
    """Patch embedding + class token + positions -> pre-norm encoder ->
    LayerNorm -> linear head.

    ``forward(images)`` maps ``(batch, in_channels, image_size, image_size)``
    to ``(batch, num_classes)`` logits; with ``need_weights=True`` it returns
    ``(logits, [weights per layer])``, each ``(batch, heads, 1 + P, 1 + P)``
    with the class token at index 0 and patch ``i`` (row-major) at ``1 + i``.
    """

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        if not isinstance(cfg, ViTConfig):
            raise TypeError(
                f"cfg must be a ViTConfig, got {type(cfg).__name__}"
            )
        self.cfg = cfg
        self.patch_embed = PatchEmbedding(
            cfg.image_size, cfg.patch_size, cfg.in_channels, cfg.d_model
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
        self.pos_embed = nn.Parameter(
            torch.randn(1, 1 + cfg.num_patches, cfg.d_model) * 0.02
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock.from_config(cfg) for _ in range(cfg.num_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.head = nn.Linear(cfg.d_model, cfg.num_classes)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """The encoder's input ``(batch, 1 + num_patches, d_model)``: class
        token, then patches, plus positions."""
        x = self.patch_embed(images)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return self.drop(torch.cat([cls, x], dim=1) + self.pos_embed)

    def forward(self, images: torch.Tensor, *, need_weights: bool = False):
        x = self.tokens(images)
        weights = []
        for block in self.blocks:
            x, w = block(x, need_weights=need_weights)
            weights.append(w)
        logits = self.head(self.norm(x[:, 0]))  # classify from the class token
        return ModelOutput(logits, weights) if need_weights else logits

    def loss(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the class ``labels`` ``(batch,)``."""
        if labels.shape != images.shape[:1]:
            raise ValueError(
                f"labels must be (batch,) = ({images.shape[0]},), got "
                f"{shape_str(labels)}"
            )
        return F.cross_entropy(self(images), labels)


def attention_rollout(
    weights_per_layer, *, residual: bool = True, head_fusion: str = "mean"
) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema, 2020) through a stack of attention
    layers.

    ``weights_per_layer``: a list (first layer first) of
    ``(batch, heads, n, n)`` attention weights (rows = queries). Heads are
    fused by ``head_fusion`` (``"mean"``, ``"max"`` or ``"min"``); with
    ``residual=True`` each layer's matrix becomes ``0.5 * A + 0.5 * I`` (the
    residual connection carries half of the signal) and its rows are
    renormalised. Returns the product ``A_L ... A_2 A_1`` of shape
    ``(batch, n, n)``: row ``i`` says how much each input token contributes to
    output token ``i``; each row sums to 1.
    """
    if isinstance(weights_per_layer, torch.Tensor) or not isinstance(
        weights_per_layer, (list, tuple)
    ):
        raise TypeError(
            "weights_per_layer must be a list of (batch, heads, n, n) "
            f"tensors, got {type(weights_per_layer).__name__}"
        )
    if len(weights_per_layer) == 0:
        raise ValueError(
            "weights_per_layer must hold at least one layer's weights"
        )
    if head_fusion not in ("mean", "max", "min"):
        raise ValueError(
            f"head_fusion must be 'mean', 'max' or 'min', got {head_fusion!r}"
        )
    first = None
    rollout = None
    for i, w in enumerate(weights_per_layer):
        name = f"weights_per_layer[{i}]"
        if w is None:
            raise ValueError(
                f"{name} is None: run the model with need_weights=True"
            )
        check_tensor(name, w, ndim=4, floating=True)
        if w.shape[-1] != w.shape[-2]:
            raise ValueError(
                f"{name} must be (batch, heads, n, n) self-attention weights, "
                f"got {shape_str(w)}"
            )
        if first is None:
            first = w.shape
        elif (w.shape[0], w.shape[2]) != (first[0], first[2]):
            raise ValueError(
                f"{name} has shape {shape_str(w)} but layer 0 has "
                f"({first[0]}, heads, {first[2]}, {first[3]}); every layer "
                "needs the same batch and n"
            )
        a = {
            "mean": lambda t: t.mean(dim=1),
            "max": lambda t: t.amax(dim=1),
            "min": lambda t: t.amin(dim=1),
        }[head_fusion](w)  # (b, n, n)
        if residual:
            a = 0.5 * a + 0.5 * torch.eye(
                a.shape[-1], dtype=a.dtype, device=a.device
            )
        a = a / a.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        rollout = (
            a if rollout is None else a @ rollout
        )  # later layers act on the left
    return rollout
