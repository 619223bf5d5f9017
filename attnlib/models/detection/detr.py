"""DETR: set prediction with a Transformer (Carion et al., 2020). CNN features
+ 2-D positions -> encoder -> decoder with learned object queries -> one
(class, box) per query, trained with :func:`.set_loss.detr_loss`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..._validate import check_tensor
from ...boxes import box_cxcywh_to_xyxy
from ...device import evaluating
from ..contract import ModelOutput, check_config
from ..transformer import DecoderBlock, EncoderBlock
from .backbone import (
    BACKBONE_CHANNELS,
    ConvBackbone,
    check_images,
    position_encoding_2d,
)
from .heads import _MLP, _filter_per_image, _init_no_object_bias
from .set_loss import detr_loss

__all__ = [
    "P_NO_OBJECT",
    "QUERY_INIT_STD",
    "DETRConfig",
    "DETR",
    "detr_predict",
]

# initial probability of "no object" for every query (most queries match
# nothing, so training starts close to the right answer for them)
P_NO_OBJECT = 0.7
# standard deviation of the learned object queries at initialisation
QUERY_INIT_STD = 0.5


@dataclass
class DETRConfig:
    """Sizes of the small DETR. ``num_classes`` excludes the extra "no object"
    class."""

    num_classes: int = 3
    image_size: int = 48
    num_queries: int = 8
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2  # encoder blocks
    num_decoder_layers: int = 3
    d_ff: int | None = None
    backbone_channels: tuple[int, ...] = BACKBONE_CHANNELS
    p_no_object: float = P_NO_OBJECT

    def __post_init__(self):
        check_config(
            self,
            positive=(
                "num_classes",
                "image_size",
                "num_queries",
                "num_decoder_layers",
            ),
        )
        if self.d_model % 4:  # (check_config has checked num_heads)
            raise ValueError(
                f"d_model={self.d_model} must be divisible by 4 (the 2-D "
                "positions: half for the row, half for the column, each in "
                "sine-cosine pairs)"
            )
        if self.image_size % 2 ** len(self.backbone_channels):
            raise ValueError(
                f"image_size={self.image_size} must be divisible by the "
                f"backbone stride {2 ** len(self.backbone_channels)}"
            )


class DETR(nn.Module):
    """A small DETR: backbone -> 1x1 projection + 2-D positions -> encoder ->
    decoder over ``num_queries`` learned object queries -> class logits
    (``num_classes + 1``, the last is "no object") and normalised ``cxcywh``
    boxes, after *every* decoder layer (auxiliary losses).

    ``forward(images, need_weights=False)`` returns a dict with ``logits``
    ``(L, B, Q, C+1)``, ``boxes`` ``(L, B, Q, 4)`` (``L`` = decoder layers)
    and ``feature_size`` ``(h, w)``; with ``need_weights=True``
    ``ModelOutput(that dict, {"cross": [L tensors (B, heads, Q, h*w)]})``.
    """

    def __init__(self, cfg: DETRConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = ConvBackbone(cfg.backbone_channels)
        self.proj = nn.Conv2d(self.backbone.out_channels, cfg.d_model, 1)
        side = cfg.image_size // self.backbone.stride
        self.register_buffer(
            "pos",
            position_encoding_2d(side, side, cfg.d_model),
            persistent=False,
        )
        self.encoder = nn.ModuleList(
            EncoderBlock.from_config(cfg) for _ in range(cfg.num_layers)
        )
        self.decoder = nn.ModuleList(
            DecoderBlock.from_config(cfg)
            for _ in range(cfg.num_decoder_layers)
        )
        self.query_embed = nn.Parameter(
            torch.randn(cfg.num_queries, cfg.d_model) * QUERY_INIT_STD
        )
        self.enc_norm, self.dec_norm = (
            nn.LayerNorm(cfg.d_model),
            nn.LayerNorm(cfg.d_model),
        )
        self.class_head = nn.Linear(cfg.d_model, cfg.num_classes + 1)
        self.box_head = _MLP(cfg.d_model, cfg.d_model, 4, layers=3)
        _init_no_object_bias(self.class_head, cfg.p_no_object)

    def forward(
        self,
        images: torch.Tensor | None,
        *,
        feats: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> dict:
        """Pass ``images`` ``(B, 3, H, W)``, or ``feats``: backbone features
        computed beforehand (e.g. by a frozen, pre-trained backbone; then
        ``images`` may be None)."""
        if feats is None:
            check_images(images, self.cfg.image_size)
            feats = self.backbone(images)
        else:
            check_tensor("feats", feats, ndim=4, floating=True)
        feat = self.proj(feats)  # (B, d, h, w)
        b, d, h, w = feat.shape
        x = (
            feat.flatten(2).transpose(1, 2) + self.pos
        )  # (B, h*w, d): one token per cell
        for block in self.encoder:
            x, _ = block(x)
        memory = (
            self.enc_norm(x) + self.pos
        )  # positions again for the cross-attention
        q = self.query_embed.expand(b, -1, -1)
        logits, boxes, cross = [], [], []
        for block in self.decoder:
            q, (_, w_cross) = block(
                q, memory, is_causal=False, need_weights=need_weights
            )
            out = self.dec_norm(q)
            logits.append(self.class_head(out))
            boxes.append(self.box_head(out).sigmoid())
            cross.append(w_cross)
        result = {
            "logits": torch.stack(logits),
            "boxes": torch.stack(boxes),
            "feature_size": (h, w),
        }
        return (
            ModelOutput(result, {"cross": cross}) if need_weights else result
        )

    def loss(
        self,
        images: torch.Tensor | None,
        gt_boxes: list,
        gt_labels: list,
        *,
        feats: torch.Tensor | None = None,
        **weights,
    ) -> torch.Tensor:
        """:func:`~.set_loss.detr_loss` of this model's output (``weights``:
        its ``no_object_weight``, ``w_class``, ``w_l1``, ``w_giou``,
        ``aux``)."""
        return detr_loss(
            self(images, feats=feats),
            gt_boxes,
            gt_labels,
            image_size=self.cfg.image_size,
            **weights,
        )


@torch.no_grad()
def detr_predict(
    model: DETR,
    images: torch.Tensor | None = None,
    *,
    feats: torch.Tensor | None = None,
    batch_size: int = 256,
    layer: int = -1,
    iou_threshold: float | None = None,
):
    """Run ``model`` on ``images`` (or precomputed ``feats``) and return
    per-image ``(boxes xyxy in pixels, scores, labels)``: every query gives one
    detection, scored by its best object-class probability (no NMS needed).

    ``layer`` picks the decoder layer whose predictions are returned (default
    the last; the others are the auxiliary heads' predictions), and
    ``iou_threshold`` applies class-wise NMS afterwards, as the other
    detectors' ``predict`` do (default: none)."""
    n_layers = model.cfg.num_decoder_layers
    if not isinstance(layer, int) or not -n_layers <= layer < n_layers:
        raise ValueError(
            f"layer must be an int in [-{n_layers}, {n_layers}) (the model "
            f"has {n_layers} decoder layers), got {layer!r}"
        )
    boxes, scores, labels = [], [], []
    src = images if feats is None else feats
    with evaluating(model):
        for start in range(0, len(src), batch_size):
            chunk = src[start : start + batch_size]
            out = model(chunk) if feats is None else model(None, feats=chunk)
            prob = out["logits"][layer].softmax(-1)[..., :-1]
            s, lab = prob.max(-1)
            bx = box_cxcywh_to_xyxy(out["boxes"][layer]) * model.cfg.image_size
            boxes += list(bx)
            scores += list(s)
            labels += list(lab)
    if iou_threshold is not None:
        return _filter_per_image(
            boxes,
            scores,
            labels,
            model.cfg.image_size,
            iou_threshold=iou_threshold,
        )
    return boxes, scores, labels
