"""The second stage of a two-stage detector: proposals -> RoI features ->
an optional relation module (self-attention across the regions of one image,
Hu et al., 2018) -> class and box-refinement heads."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..._validate import check_tensor, shape_str
from ...boxes import (
    box_cxcywh_to_xyxy,
    box_iou,
    box_xyxy_to_cxcywh,
    generalized_box_iou,
    roi_pool,
)
from ...device import evaluating
from ...layers import MultiHeadAttention
from ..contract import ModelOutput, check_config
from ..transformer import FeedForward
from .heads import _MLP, _filter_per_image
from .set_loss import W_GIOU, W_L1

__all__ = [
    "MAX_LOG_SCALE",
    "POSITIVE_IOU",
    "TwoStageConfig",
    "TwoStageDetector",
    "two_stage_targets",
    "two_stage_loss",
]

# cap on the predicted log-scale of a box refinement: a box grows at most
# e**4 (about 55) times, so an untrained head cannot blow it up
MAX_LOG_SCALE = 4
# a proposal overlapping an object by at least this IoU is a positive
POSITIVE_IOU = 0.5


@dataclass
class TwoStageConfig:
    """Sizes of :class:`TwoStageDetector`: ``in_channels`` of the feature map
    it reads, its ``stride`` (pixels per cell) and the ``pool x pool`` RoI
    grid; ``num_layers`` relation blocks when ``relation`` is on."""

    in_channels: int
    num_classes: int = 3
    image_size: int = 48
    stride: int = 8
    pool: int = 4
    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 1
    d_ff: int | None = None
    relation: bool = True

    def __post_init__(self):
        check_config(
            self,
            positive=(
                "in_channels",
                "num_classes",
                "image_size",
                "stride",
                "pool",
            ),
        )


class TwoStageDetector(nn.Module):
    """The second stage of a two-stage detector, with or without a relation
    module.

    Given a feature map ``(B, C, h, w)`` and ``k`` proposals per image (pixel
    ``xyxy``), each proposal is cropped with :func:`roi_pool` to
    ``pool x pool`` cells, flattened and embedded by an MLP, plus an
    embedding of its box geometry. With ``relation=True`` the ``k`` region
    features of an image then attend to one another (``cfg.num_layers``
    pre-norm blocks of multi-head self-attention + feed-forward): each region
    can see what the others look like and where they are. Heads predict
    ``num_classes + 1`` logits (last = background) and a box refinement
    ``(dx, dy, dw, dh)`` relative to the proposal.
    """

    def __init__(self, cfg: TwoStageConfig):
        super().__init__()
        self.cfg = cfg
        in_channels, num_classes, image_size = (
            cfg.in_channels,
            cfg.num_classes,
            cfg.image_size,
        )
        stride, pool, d_model, relation = (
            cfg.stride,
            cfg.pool,
            cfg.d_model,
            cfg.relation,
        )
        self.num_classes, self.image_size, self.stride, self.pool = (
            num_classes,
            image_size,
            stride,
            pool,
        )
        self.relation = relation
        self.embed = _MLP(
            in_channels * pool * pool, d_model, d_model, layers=2
        )
        self.geometry = nn.Linear(4, d_model)
        self.rel_attn = (
            nn.ModuleList(
                MultiHeadAttention(d_model, cfg.num_heads)
                for _ in range(cfg.num_layers)
            )
            if relation
            else nn.ModuleList()
        )
        self.rel_ff = nn.ModuleList(
            FeedForward(d_model, cfg.d_ff) for _ in range(len(self.rel_attn))
        )
        self.norms = nn.ModuleList(
            nn.LayerNorm(d_model) for _ in range(2 * len(self.rel_attn))
        )
        self.out_norm = nn.LayerNorm(d_model)
        self.cls = nn.Linear(d_model, num_classes + 1)
        self.reg = nn.Linear(d_model, 4)
        nn.init.zeros_(self.reg.weight)
        nn.init.zeros_(self.reg.bias)

    def region_tokens(
        self, feats: torch.Tensor, proposals: torch.Tensor
    ) -> torch.Tensor:
        """The tokens the relation module reads, ``(B, k, d_model)``: each
        proposal's RoI grid, flattened and embedded, plus an embedding of
        its normalised ``(cx, cy, w, h)`` box."""
        check_tensor("feats", feats, ndim=4, floating=True)
        check_tensor("proposals", proposals, ndim=3, floating=True)
        b, k, _ = proposals.shape
        if proposals.shape[-1] != 4 or b != feats.shape[0]:
            raise ValueError(
                f"proposals must be ({feats.shape[0]}, k, 4), got "
                f"{shape_str(proposals)}"
            )
        rois = roi_pool(
            feats, list(proposals), self.pool, spatial_scale=1.0 / self.stride
        )  # (B*k, C, p, p)
        x = self.embed(rois.flatten(1)).view(b, k, -1)
        geo = box_xyxy_to_cxcywh(proposals) / self.image_size
        return x + self.geometry(geo)

    def forward(
        self,
        feats: torch.Tensor,
        proposals: torch.Tensor,
        *,
        need_weights: bool = False,
    ) -> dict:
        """``proposals``: ``(B, k, 4)`` pixel ``xyxy``. Returns ``logits``
        ``(B, k, C+1)``, ``boxes`` ``(B, k, 4)`` refined pixel ``xyxy``;
        with ``need_weights`` ``ModelOutput(that dict, [(B, heads, k, k) per
        relation layer])``."""
        x = self.region_tokens(feats, proposals)  # checks the shapes
        weights = []
        for i, (attn, ff) in enumerate(zip(self.rel_attn, self.rel_ff)):
            a, w = attn(
                self.norms[2 * i](x),
                need_weights=need_weights,
                average_attn_weights=False,
            )
            x = x + a
            x = x + ff(self.norms[2 * i + 1](x))
            weights.append(w)
        x = self.out_norm(x)
        d = self.reg(x)
        p = box_xyxy_to_cxcywh(proposals)
        refined = torch.stack(
            [
                p[..., 0] + d[..., 0] * p[..., 2],
                p[..., 1] + d[..., 1] * p[..., 3],
                p[..., 2] * d[..., 2].clamp(max=MAX_LOG_SCALE).exp(),
                p[..., 3] * d[..., 3].clamp(max=MAX_LOG_SCALE).exp(),
            ],
            -1,
        )
        out = {"logits": self.cls(x), "boxes": box_cxcywh_to_xyxy(refined)}
        return ModelOutput(out, weights) if need_weights else out

    def loss(
        self,
        feats: torch.Tensor,
        proposals: torch.Tensor,
        target_classes: torch.Tensor,
        target_boxes: torch.Tensor,
    ) -> torch.Tensor:
        """:func:`two_stage_loss` of this model's output; the targets come
        from :func:`two_stage_targets`."""
        return two_stage_loss(
            self(feats, proposals),
            target_classes,
            target_boxes,
            image_size=self.image_size,
        )

    @torch.no_grad()
    def predict(
        self,
        feats: torch.Tensor,
        proposals: torch.Tensor,
        *,
        iou_threshold: float | None = None,
    ):
        """Per-image ``(boxes xyxy in pixels, scores, labels)``; optional
        class-wise NMS."""
        with evaluating(self):
            out = self(feats, proposals)
        scores, labels = out["logits"].softmax(-1)[..., :-1].max(-1)
        return _filter_per_image(
            out["boxes"],
            scores,
            labels,
            self.image_size,
            iou_threshold=iou_threshold,
        )


def two_stage_targets(
    proposals: torch.Tensor,
    gt_boxes: list,
    gt_labels: list,
    num_classes: int,
    *,
    iou_threshold: float = POSITIVE_IOU,
    unique: bool = True,
):
    """Targets of the second stage: for each proposal a class
    (``num_classes`` = background) and the box it should become.

    A proposal overlapping an object by IoU >= ``iou_threshold`` is a positive
    of that object's class. With ``unique=True`` only the *best* proposal of
    each object is positive and the other overlapping proposals ("duplicates")
    are background, so the detector must itself decide which of several
    near-identical regions to keep — the job NMS does by hand, and one that
    needs information about the *other* proposals.
    """
    b, k, _ = proposals.shape
    cls = torch.full(
        (b, k), num_classes, dtype=torch.long, device=proposals.device
    )
    tgt = proposals.clone()
    for i in range(b):
        gb, gl = gt_boxes[i].reshape(-1, 4), gt_labels[i]
        if len(gl) == 0:
            continue
        iou = box_iou(proposals[i], gb)  # (k, m)
        best_iou, best_gt = iou.max(1)
        pos = best_iou >= iou_threshold
        if unique:
            keep = torch.zeros_like(pos)
            for j in range(len(gl)):
                col = iou[:, j].masked_fill(best_gt != j, -1.0)
                top = int(col.argmax())
                if col[top] >= iou_threshold:
                    keep[top] = True
            pos = keep
        cls[i, pos] = gl[best_gt[pos]]
        tgt[i, pos] = gb[best_gt[pos]]
    return cls, tgt


def two_stage_loss(
    outputs: dict,
    target_classes: torch.Tensor,
    target_boxes: torch.Tensor,
    *,
    image_size: int,
    w_l1: float = W_L1,
    w_giou: float = W_GIOU,
) -> torch.Tensor:
    """Cross-entropy over all proposals + L1 (normalised) and GIoU on the
    positives."""
    c1 = outputs["logits"].shape[-1]
    loss = F.cross_entropy(
        outputs["logits"].flatten(0, 1), target_classes.flatten()
    )
    pos = target_classes != c1 - 1
    if pos.any():
        src, tgt = outputs["boxes"][pos], target_boxes[pos]
        loss = loss + w_l1 * F.l1_loss(src / image_size, tgt / image_size)
        loss = (
            loss
            + w_giou * (1 - torch.diag(generalized_box_iou(src, tgt))).mean()
        )
    return loss
