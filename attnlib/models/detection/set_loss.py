"""DETR's set loss: a matching cost between predictions and objects, the
optimal one-to-one (Hungarian) assignment, and the loss on that assignment.

The loss weights are DETR's (Carion et al., 2020); the dense and two-stage
baselines reuse ``W_L1`` and ``W_GIOU`` so that the losses are comparable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..._validate import check_tensor, shape_str
from ...boxes import (
    box_cxcywh_to_xyxy,
    box_xyxy_to_cxcywh,
    generalized_box_iou,
)

__all__ = [
    "W_CLASS",
    "W_L1",
    "W_GIOU",
    "NO_OBJECT_WEIGHT",
    "matching_cost",
    "hungarian_match",
    "detr_loss",
]

# weight of the class term (probability in the cost, cross-entropy in the loss)
W_CLASS = 1.0
# weight of the L1 distance between normalised cxcywh boxes
W_L1 = 5.0
# weight of the generalised-IoU term
W_GIOU = 2.0
# cross-entropy weight of the "no object" class: most queries match nothing
NO_OBJECT_WEIGHT = 0.1


def matching_cost(
    logits: torch.Tensor,
    boxes: torch.Tensor,
    gt_labels: torch.Tensor,
    gt_boxes: torch.Tensor,
    *,
    w_class: float = W_CLASS,
    w_l1: float = W_L1,
    w_giou: float = W_GIOU,
) -> torch.Tensor:
    """DETR's matching cost between ``Q`` predictions and ``m`` ground-truth
    objects -> ``(Q, m)``:
    ``-w_class * p(class) + w_l1 * L1(boxes) - w_giou * GIoU``, boxes
    normalised ``cxcywh``."""
    check_tensor("logits", logits, ndim=2, floating=True)
    check_tensor("boxes", boxes, ndim=2, floating=True)
    if boxes.shape != (logits.shape[0], 4):
        raise ValueError(
            f"boxes must be ({logits.shape[0]}, 4), got {shape_str(boxes)}"
        )
    gt_boxes = gt_boxes.reshape(-1, 4)
    if len(gt_labels) != len(gt_boxes):
        raise ValueError(
            f"gt_labels {shape_str(gt_labels)} and gt_boxes "
            f"{shape_str(gt_boxes)} differ in length"
        )
    prob = logits.softmax(-1)[:, gt_labels]  # (Q, m)
    l1 = torch.cdist(boxes, gt_boxes, p=1)
    giou = generalized_box_iou(
        box_cxcywh_to_xyxy(boxes), box_cxcywh_to_xyxy(gt_boxes)
    )
    return -w_class * prob + w_l1 * l1 - w_giou * giou


@torch.no_grad()
def hungarian_match(
    logits: torch.Tensor,
    boxes: torch.Tensor,
    gt_labels: list,
    gt_boxes: list,
    **weights,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Optimal one-to-one assignment of predictions to objects, per image.

    ``logits`` ``(B, Q, C+1)``, ``boxes`` ``(B, Q, 4)`` normalised ``cxcywh``;
    ``gt_labels``/``gt_boxes``: lists of ``B`` tensors (normalised ``cxcywh``).
    Returns, per image, ``(query indices, object indices)`` as in
    ``scipy.optimize.linear_sum_assignment`` (empty for an image without
    objects).
    """
    from scipy.optimize import linear_sum_assignment

    check_tensor("logits", logits, ndim=3, floating=True)
    b, q = logits.shape[:2]
    if len(gt_labels) != b or len(gt_boxes) != b:
        raise ValueError(
            f"gt_labels and gt_boxes must be lists of {b} tensors (one per "
            "image)"
        )
    sizes = [len(t) for t in gt_labels]
    empty = torch.zeros(0, dtype=torch.long)
    if sum(sizes) == 0:
        return [(empty, empty) for _ in range(b)]
    # one cost matrix for the whole batch (every query against every object),
    # then one block per image
    cost = matching_cost(
        logits.flatten(0, 1),
        boxes.flatten(0, 1),
        torch.cat(list(gt_labels)),
        torch.cat([t.reshape(-1, 4) for t in gt_boxes]),
        **weights,
    )
    blocks = cost.view(b, q, -1).cpu().split(sizes, dim=-1)
    out = []
    for i, c in enumerate(blocks):
        if sizes[i] == 0:
            out.append((empty, empty))
            continue
        rows, cols = linear_sum_assignment(c[i].numpy())
        out.append(
            (
                torch.as_tensor(rows, dtype=torch.long),
                torch.as_tensor(cols, dtype=torch.long),
            )
        )
    return out


def _normalise_targets(gt_boxes: list, image_size: int) -> list:
    return [
        box_xyxy_to_cxcywh(b.reshape(-1, 4).float()) / image_size
        for b in gt_boxes
    ]


def detr_loss(
    outputs: dict,
    gt_boxes: list,
    gt_labels: list,
    *,
    image_size: int,
    no_object_weight: float = NO_OBJECT_WEIGHT,
    w_class: float = W_CLASS,
    w_l1: float = W_L1,
    w_giou: float = W_GIOU,
    aux: bool = True,
) -> torch.Tensor:
    """DETR's set loss: match every decoder layer's predictions to the objects
    (Hungarian), then cross-entropy on all queries (unmatched ones -> "no
    object", down-weighted by ``no_object_weight``) + L1 + GIoU on the matched
    boxes. ``gt_boxes`` in pixel ``xyxy``. With ``aux`` the loss is summed over
    all decoder layers, else only the last."""
    targets = _normalise_targets(gt_boxes, image_size)
    n_layers, b, q, c1 = outputs["logits"].shape
    n_obj = max(1, sum(len(t) for t in gt_labels))
    class_weight = torch.ones(c1, device=outputs["logits"].device)
    class_weight[-1] = no_object_weight
    total = outputs["logits"].new_zeros(())
    for layer in range(n_layers) if aux else [n_layers - 1]:
        logits, boxes = outputs["logits"][layer], outputs["boxes"][layer]
        match = hungarian_match(
            logits,
            boxes,
            gt_labels,
            targets,
            w_class=w_class,
            w_l1=w_l1,
            w_giou=w_giou,
        )
        tgt_class = torch.full(
            (b, q), c1 - 1, dtype=torch.long, device=logits.device
        )
        src, tgt = [], []
        for i, (rows, cols) in enumerate(match):
            tgt_class[i, rows] = gt_labels[i][cols]
            src.append(boxes[i, rows])
            tgt.append(targets[i][cols])
        loss_ce = F.cross_entropy(
            logits.flatten(0, 1), tgt_class.flatten(), weight=class_weight
        )
        src, tgt = torch.cat(src), torch.cat(tgt)
        loss_l1 = F.l1_loss(src, tgt, reduction="sum") / n_obj
        loss_giou = (
            1
            - torch.diag(
                generalized_box_iou(
                    box_cxcywh_to_xyxy(src), box_cxcywh_to_xyxy(tgt)
                )
            )
        ).sum() / n_obj
        total = total + w_class * loss_ce + w_l1 * loss_l1 + w_giou * loss_giou
    return total
