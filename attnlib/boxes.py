"""Box utilities for detection, written out so that no ``torchvision`` is
needed.

Conventions: boxes are float tensors ``(..., 4)``. ``xyxy`` is
``(x0, y0, x1, y1)`` (corners), ``cxcywh`` is ``(cx, cy, w, h)`` (centre and
size). Areas use ``(x1 - x0) * (y1 - y0)`` (continuous coordinates, no ``+1``,
as in COCO).

* :func:`box_convert`, :func:`box_xyxy_to_cxcywh`, :func:`box_cxcywh_to_xyxy`
* :func:`box_area`, :func:`box_iou`, :func:`generalized_box_iou` (pairwise)
* :func:`nms`: greedy non-maximum suppression
* :func:`roi_pool`: RoI pooling (RoIAlign-style bilinear sampling) with
  ``torch.nn.functional.grid_sample``
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._validate import check_tensor, shape_str

__all__ = [
    "box_convert",
    "box_xyxy_to_cxcywh",
    "box_cxcywh_to_xyxy",
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "nms",
    "roi_pool",
]


def _check_boxes(name: str, boxes) -> None:
    check_tensor(name, boxes, min_dim=1, floating=True)
    if boxes.shape[-1] != 4:
        raise ValueError(
            f"{name} must be (..., 4), got shape {shape_str(boxes)}"
        )


def box_xyxy_to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    """``(x0, y0, x1, y1)`` -> ``(cx, cy, w, h)``."""
    _check_boxes("boxes", boxes)
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack(
        [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], dim=-1
    )


def box_cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """``(cx, cy, w, h)`` -> ``(x0, y0, x1, y1)``."""
    _check_boxes("boxes", boxes)
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack(
        [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1
    )


def box_convert(
    boxes: torch.Tensor, in_fmt: str, out_fmt: str
) -> torch.Tensor:
    """Convert between ``"xyxy"``, ``"cxcywh"`` and ``"xywh"`` (corner + size,
    COCO's format)."""
    fmts = ("xyxy", "cxcywh", "xywh")
    if in_fmt not in fmts or out_fmt not in fmts:
        raise ValueError(
            f"in_fmt and out_fmt must be in {fmts}, got {in_fmt!r} and "
            f"{out_fmt!r}"
        )
    _check_boxes("boxes", boxes)
    if in_fmt == "cxcywh":
        boxes = box_cxcywh_to_xyxy(boxes)
    elif in_fmt == "xywh":
        x, y, w, h = boxes.unbind(-1)
        boxes = torch.stack([x, y, x + w, y + h], dim=-1)
    if out_fmt == "cxcywh":
        return box_xyxy_to_cxcywh(boxes)
    if out_fmt == "xywh":
        x0, y0, x1, y1 = boxes.unbind(-1)
        return torch.stack([x0, y0, x1 - x0, y1 - y0], dim=-1)
    return boxes.clone() if in_fmt == "xyxy" else boxes


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of ``xyxy`` boxes ``(..., 4)`` -> ``(...)``; degenerate boxes give
    0."""
    _check_boxes("boxes", boxes)
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (
        boxes[..., 3] - boxes[..., 1]
    ).clamp(min=0)


def _pairwise_inter_union(a: torch.Tensor, b: torch.Tensor):
    _check_boxes("boxes1", a)
    _check_boxes("boxes2", b)
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(
            f"boxes1 and boxes2 must be (N, 4) and (M, 4), got {shape_str(a)} "
            f"and {shape_str(b)}"
        )
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter, union


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Pairwise intersection over union of ``xyxy`` boxes:
    ``(N, 4), (M, 4) -> (N, M)``.

    Two empty boxes (zero union) have IoU 0.
    """
    inter, union = _pairwise_inter_union(boxes1, boxes2)
    return torch.where(
        union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(union)
    )


def generalized_box_iou(
    boxes1: torch.Tensor, boxes2: torch.Tensor
) -> torch.Tensor:
    """Pairwise generalised IoU (Rezatofighi et al., 2019):
    ``IoU - (C - U) / C``, where ``C`` is the area of the smallest box
    enclosing both. In ``[-1, 1]``; unlike IoU it keeps falling as disjoint
    boxes move apart, so it gives a gradient even without overlap."""
    inter, union = _pairwise_inter_union(boxes1, boxes2)
    iou = torch.where(
        union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(union)
    )
    lt = torch.minimum(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.maximum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    hull = (rb - lt).clamp(min=0).prod(-1)
    return iou - torch.where(
        hull > 0,
        (hull - union) / hull.clamp(min=1e-12),
        torch.zeros_like(hull),
    )


def nms(
    boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float = 0.5
) -> torch.Tensor:
    """Greedy non-maximum suppression: keep the best box, drop every box
    overlapping it by more than ``iou_threshold``, repeat. Returns the kept
    indices, best score first."""
    _check_boxes("boxes", boxes)
    check_tensor("scores", scores, ndim=1)
    if boxes.dim() != 2 or len(scores) != len(boxes):
        raise ValueError(
            f"boxes must be (N, 4) and scores (N,), got {shape_str(boxes)} "
            f"and {shape_str(scores)}"
        )
    order = torch.argsort(scores, descending=True, stable=True)
    if len(order) == 0:
        return order
    iou = box_iou(boxes, boxes)
    suppressed = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return torch.tensor(keep, dtype=torch.long, device=boxes.device)


def roi_pool(
    features: torch.Tensor,
    boxes,
    output_size: int | tuple[int, int] = 4,
    *,
    spatial_scale: float = 1.0,
    sampling_ratio: int = 2,
) -> torch.Tensor:
    """Crop a fixed-size feature grid for every box: RoIAlign written with
    ``grid_sample``.

    ``features``: ``(B, C, H, W)``. ``boxes``: a list of ``B`` tensors
    ``(k_i, 4)`` in ``xyxy`` *image* coordinates (``k_i = 0`` allowed), or one
    tensor ``(K, 5)`` whose first column is the image index. ``spatial_scale``
    maps image to feature coordinates (``1 / stride``). Each box is cut into
    ``output_size`` bins; each bin averages ``sampling_ratio**2`` bilinear
    samples at regularly spaced points (feature cell ``j`` covers
    ``[j, j + 1)`` and has its value at ``j + 0.5``). Samples outside the
    map read zeros. Returns ``(K, C, out_h, out_w)`` with the boxes of image
    0 first, then image 1, and so on.
    """
    check_tensor("features", features, ndim=4, floating=True)
    b, c, h, w = features.shape
    if isinstance(boxes, (list, tuple)):
        if len(boxes) != b:
            raise ValueError(
                f"boxes must be a list of {b} tensors (one per image), got "
                f"{len(boxes)}"
            )
        for i, bx in enumerate(boxes):
            _check_boxes(f"boxes[{i}]", bx)
            if bx.dim() != 2:
                raise ValueError(
                    f"boxes[{i}] must be (k, 4), got {shape_str(bx)}"
                )
        idx = torch.cat(
            [
                torch.full(
                    (len(bx),), i, dtype=features.dtype, device=features.device
                )
                for i, bx in enumerate(boxes)
            ]
        )
        rois = torch.cat(
            [
                idx[:, None],
                torch.cat([bx.to(features) for bx in boxes]).reshape(-1, 4),
            ],
            dim=1,
        )
    else:
        check_tensor("boxes", boxes, ndim=2, floating=True)
        if boxes.shape[1] != 5:
            raise ValueError(
                "boxes as one tensor must be (K, 5) = (image index, x0, y0, "
                f"x1, y1), got {shape_str(boxes)}"
            )
        rois = boxes.to(features)
        if len(rois) and (rois[:, 0].min() < 0 or rois[:, 0].max() >= b):
            raise ValueError(
                f"image indices in boxes[:, 0] must lie in [0, {b})"
            )
    oh, ow = (
        (output_size, output_size)
        if isinstance(output_size, int)
        else tuple(output_size)
    )
    if oh <= 0 or ow <= 0 or sampling_ratio <= 0:
        raise ValueError(
            "output_size and sampling_ratio must be positive, got "
            f"{output_size}, {sampling_ratio}"
        )
    k = len(rois)
    if k == 0:
        return features.new_zeros(0, c, oh, ow)
    s = sampling_ratio
    x0, y0, x1, y1 = (rois[:, 1:] * spatial_scale).unbind(
        -1
    )  # feature coordinates
    # sample positions inside each box: bin j, sub-sample t ->
    # x0 + (j + (t + 0.5) / s) * bin_w
    fy = (
        torch.arange(oh * s, device=features.device, dtype=features.dtype)
        + 0.5
    ) / (oh * s)
    fx = (
        torch.arange(ow * s, device=features.device, dtype=features.dtype)
        + 0.5
    ) / (ow * s)
    ys = y0[:, None] + fy[None] * (y1 - y0)[:, None]  # (K, oh*s)
    xs = x0[:, None] + fx[None] * (x1 - x0)[:, None]  # (K, ow*s)
    # grid_sample with align_corners=False: normalised -1 is the left edge of
    # cell 0, +1 the right edge of cell W-1
    gx = (2 * xs / w - 1)[:, None, :].expand(k, oh * s, ow * s)
    gy = (2 * ys / h - 1)[:, :, None].expand(k, oh * s, ow * s)
    grid = torch.stack([gx, gy], dim=-1)  # (K, oh*s, ow*s, 2)
    per_roi = features[rois[:, 0].long()]  # (K, C, H, W)
    samples = F.grid_sample(
        per_roi,
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )
    return F.avg_pool2d(samples, kernel_size=s) if s > 1 else samples
