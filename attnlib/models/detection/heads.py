"""The output side the detectors share: a small MLP head, the class head's
"background" prior, and class-wise NMS over pixel boxes."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...boxes import nms

# class-wise NMS shifts the boxes of class c by c * NMS_CLASS_OFFSET *
# image_size pixels, far enough that boxes of different classes never overlap
NMS_CLASS_OFFSET = 4.0


class _MLP(nn.Module):
    def __init__(self, d_in: int, d_hidden: int, d_out: int, layers: int = 2):
        super().__init__()
        dims = [d_in] + [d_hidden] * (layers - 1) + [d_out]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])
        )

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


def _init_no_object_bias(layer: nn.Module, p_background: float) -> None:
    """Set a class head's bias (a ``Linear`` or a 1x1 ``Conv2d``, last class =
    "no object") so that the initial probability of "no object" is
    ``p_background``."""
    n_fg = layer.bias.numel() - 1
    with torch.no_grad():
        layer.bias.zero_()
        layer.bias[-1] = math.log(p_background * n_fg / (1 - p_background))


def _classwise_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    labels: torch.Tensor,
    iou_threshold: float,
    image_size: int,
) -> torch.Tensor:
    """:func:`attnlib.boxes.nms` within each class: boxes of one class never
    suppress another's. Returns the kept indices."""
    shift = labels[:, None] * NMS_CLASS_OFFSET * image_size
    return nms(boxes + shift, scores, iou_threshold)


def _filter_per_image(
    boxes, scores, labels, image_size, *, iou_threshold=None, top_k=None
):
    """Per image, keep the ``top_k`` best-scoring boxes, then apply
    class-wise NMS; return the lists ``(boxes, scores, labels)``."""
    res = ([], [], [])
    for bx, s, lab in zip(boxes, scores, labels):
        if top_k is not None:
            keep = torch.argsort(s, descending=True)[:top_k]
            bx, s, lab = bx[keep], s[keep], lab[keep]
        if iou_threshold is not None:
            keep = _classwise_nms(bx, s, lab, iou_threshold, image_size)
            bx, s, lab = bx[keep], s[keep], lab[keep]
        for r, v in zip(res, (bx, s, lab)):
            r.append(v)
    return res
