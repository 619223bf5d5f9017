"""A one-stage *dense* baseline in the spirit of YOLO / CenterNet: one
prediction per feature-map cell, the cell holding an object's centre is
responsible for it, duplicates are removed by NMS."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...boxes import (
    box_cxcywh_to_xyxy,
    box_xyxy_to_cxcywh,
    generalized_box_iou,
)
from ...device import evaluating
from ..contract import check_config
from .backbone import BACKBONE_CHANNELS, ConvBackbone, check_images
from .heads import _filter_per_image, _init_no_object_bias
from .set_loss import W_GIOU, W_L1

__all__ = [
    "P_BACKGROUND",
    "NMS_IOU",
    "TOP_K",
    "DenseDetectorConfig",
    "DenseDetector",
    "dense_loss",
]

# initial probability of "background" in every cell (most cells hold no
# object centre)
P_BACKGROUND = 0.9
# NMS drops a box overlapping a better one of its class by more than this IoU
NMS_IOU = 0.5
# best-scoring cells kept per image before NMS
TOP_K = 20


@dataclass
class DenseDetectorConfig:
    """Sizes of :class:`DenseDetector`. ``num_classes`` excludes the extra
    "background" class."""

    num_classes: int = 3
    image_size: int = 48
    backbone_channels: tuple[int, ...] = BACKBONE_CHANNELS
    p_background: float = P_BACKGROUND

    def __post_init__(self):
        check_config(self, positive=("num_classes", "image_size"))


class DenseDetector(nn.Module):
    """One prediction per feature-map cell: ``num_classes + 1`` logits
    (last = background) and a box (centre offset inside the cell, width and
    height as fractions of the image).

    Training target (:func:`dense_loss`): the cell that holds an object's
    centre predicts it, every other cell predicts background. ``predict``
    removes duplicates with NMS.
    """

    def __init__(self, cfg: DenseDetectorConfig):
        super().__init__()
        self.cfg = cfg
        num_classes, image_size = cfg.num_classes, cfg.image_size
        self.num_classes, self.image_size = num_classes, image_size
        self.backbone = ConvBackbone(cfg.backbone_channels)
        if image_size % self.backbone.stride:
            raise ValueError(
                f"image_size={image_size} must be divisible by the stride "
                f"{self.backbone.stride}"
            )
        c = self.backbone.out_channels
        self.head = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU())
        self.cls = nn.Conv2d(c, num_classes + 1, 1)
        self.box = nn.Conv2d(c, 4, 1)
        _init_no_object_bias(self.cls, cfg.p_background)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, self.image_size)
        return self.backbone(images)

    def forward(
        self, images: torch.Tensor, feats: torch.Tensor | None = None
    ) -> dict:
        """``logits`` ``(B, h*w, C+1)``, ``boxes`` ``(B, h*w, 4)`` normalised
        ``cxcywh``."""
        feats = self.features(images) if feats is None else feats
        z = self.head(feats)
        b, _, h, w = z.shape
        logits = self.cls(z).flatten(2).transpose(1, 2)
        raw = self.box(z).flatten(2).transpose(1, 2)
        ys, xs = torch.meshgrid(
            torch.arange(h, device=z.device),
            torch.arange(w, device=z.device),
            indexing="ij",
        )
        cx = (xs.flatten() + raw[..., 0].sigmoid()) / w
        cy = (ys.flatten() + raw[..., 1].sigmoid()) / h
        boxes = torch.stack(
            [cx, cy, raw[..., 2].sigmoid(), raw[..., 3].sigmoid()], -1
        )
        return {"logits": logits, "boxes": boxes, "feature_size": (h, w)}

    def loss(
        self,
        images: torch.Tensor,
        gt_boxes: list,
        gt_labels: list,
        *,
        feats: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """:func:`dense_loss` of this model's output on ``images`` (or on
        backbone features ``feats`` computed beforehand)."""
        return dense_loss(
            self(images, feats),
            gt_boxes,
            gt_labels,
            image_size=self.image_size,
        )

    @torch.no_grad()
    def predict(
        self,
        images: torch.Tensor,
        *,
        iou_threshold: float | None = NMS_IOU,
        top_k: int = TOP_K,
        batch_size: int = 256,
    ):
        """Per-image ``(boxes xyxy in pixels, scores, labels)``, best ``top_k``
        after class-wise NMS."""
        res = ([], [], [])
        with evaluating(self):
            for start in range(0, len(images), batch_size):
                out = self(images[start : start + batch_size])
                prob = out["logits"].softmax(-1)[..., :-1]
                scores, labels = prob.max(-1)
                boxes = box_cxcywh_to_xyxy(out["boxes"]) * self.image_size
                kept = _filter_per_image(
                    boxes,
                    scores,
                    labels,
                    self.image_size,
                    iou_threshold=iou_threshold,
                    top_k=top_k,
                )
                for r, part in zip(res, kept):
                    r.extend(part)
        return res


def dense_loss(
    outputs: dict,
    gt_boxes: list,
    gt_labels: list,
    *,
    image_size: int,
    w_l1: float = W_L1,
    w_giou: float = W_GIOU,
) -> torch.Tensor:
    """Cross-entropy over all cells (background for cells without an object
    centre) + L1 + GIoU on the cells responsible for an object."""
    logits, boxes = outputs["logits"], outputs["boxes"]
    h, w = outputs["feature_size"]
    b, n, c1 = logits.shape
    tgt_class = torch.full(
        (b, n), c1 - 1, dtype=torch.long, device=logits.device
    )
    src, tgt = [], []
    for i, (gb, gl) in enumerate(zip(gt_boxes, gt_labels)):
        if len(gl) == 0:
            continue
        t = box_xyxy_to_cxcywh(gb.reshape(-1, 4).float()) / image_size
        cell = (t[:, 1] * h).long().clamp(0, h - 1) * w + (
            t[:, 0] * w
        ).long().clamp(0, w - 1)
        tgt_class[i, cell] = gl
        src.append(boxes[i, cell])
        tgt.append(t)
    loss = F.cross_entropy(logits.flatten(0, 1), tgt_class.flatten())
    if src:
        src, tgt = torch.cat(src), torch.cat(tgt)
        n_obj = len(tgt)
        loss = loss + w_l1 * F.l1_loss(src, tgt, reduction="sum") / n_obj
        giou = torch.diag(
            generalized_box_iou(
                box_cxcywh_to_xyxy(src), box_cxcywh_to_xyxy(tgt)
            )
        )
        loss = loss + w_giou * (1 - giou).sum() / n_obj
    return loss
