"""Metrics used across the book: accuracy, BLEU, ranking metrics, detection
AP/mAP.

Stand-alone (depends on torch, NumPy, ``attnlib.boxes`` for IoU, and
``sacrebleu`` for BLEU).

Detection metrics: average precision and mAP at one IoU threshold.

For every class, all detections of the test set are sorted by score (best
first) and each one is declared a true positive (TP) if it overlaps a
not-yet-claimed ground-truth box of its class by IoU >= the threshold, else a
false positive (FP). Walking down the list gives a precision–recall curve; AP
is the area under its *interpolated* version (precision at recall ``r``
replaced by the best precision at any recall ``>= r``); mAP averages AP over
the classes that have ground truth.

Two conventions are implemented, because they differ in small but real ways:

* ``style="voc"`` (PASCAL VOC 2010+): all-point interpolation (the exact area
  under the interpolated curve); a detection is matched to the ground-truth
  box it overlaps *most*; if that box is already claimed the detection is a
  false positive; a match needs IoU > threshold.
* ``style="coco"`` (``pycocotools``' AP at one IoU): 101-point interpolation
  (mean interpolated precision at recall 0, 0.01, ..., 1, zero beyond the
  highest recall reached); a detection is matched to the best-overlapping
  *unclaimed* box with IoU >= threshold; at most ``max_dets`` detections per
  image (the best-scoring ones) are evaluated.
"""

from __future__ import annotations

import numpy as np
import torch

from .boxes import box_iou

__all__ = [
    "accuracy",
    "corpus_bleu",
    "hit_rate_at_k",
    "ndcg_at_k",
    "rank_of_target",
    "average_precision",
    "match_detections",
    "mean_average_precision",
]


def accuracy(
    logits_or_preds: torch.Tensor,
    targets: torch.Tensor,
    ignore_index: int | None = None,
) -> float:
    """Fraction of correct predictions. Accepts class scores ``(..., C)``
    (argmax taken) or predicted labels with the shape of ``targets``."""
    preds = logits_or_preds
    if preds.dim() == targets.dim() + 1:
        preds = preds.argmax(dim=-1)
    if preds.shape != targets.shape:
        raise ValueError(
            f"predictions {tuple(preds.shape)} and targets "
            f"{tuple(targets.shape)} do not match"
        )
    keep = (
        torch.ones_like(targets, dtype=torch.bool)
        if ignore_index is None
        else targets != ignore_index
    )
    if not keep.any():
        raise ValueError("no targets left to score (all equal ignore_index)")
    return (preds[keep] == targets[keep]).float().mean().item()


def corpus_bleu(
    hypotheses: list[str], references: list[str], tokenize: str = "13a"
) -> tuple[float, str]:
    """Corpus BLEU (sacrebleu) of ``hypotheses`` against one reference each.

    Returns ``(score in [0, 100], signature)``; report the signature with the
    score. Use ``tokenize="zh"`` for Chinese targets, ``"char"`` for
    character-level BLEU.
    """
    try:
        from sacrebleu.metrics import BLEU
    except (
        ImportError
    ) as err:  # pragma: no cover - sacrebleu is in requirements.txt
        raise ImportError(
            "corpus_bleu needs sacrebleu: pip install sacrebleu"
        ) from err
    if len(hypotheses) != len(references):
        raise ValueError(
            f"got {len(hypotheses)} hypotheses but {len(references)} "
            "references"
        )
    if not hypotheses:
        raise ValueError("hypotheses is empty")
    bleu = BLEU(tokenize=tokenize)
    result = bleu.corpus_score(list(hypotheses), [list(references)])
    return float(result.score), str(bleu.get_signature())


def rank_of_target(
    scores: torch.Tensor, target_col: int | torch.Tensor = 0
) -> torch.Tensor:
    """0-based rank of each row's target among its candidates,
    ``(batch, n_candidates)`` scores (higher is better); ties are counted
    pessimistically."""
    if scores.dim() != 2:
        raise ValueError(
            "scores must be (batch, n_candidates), got shape "
            f"{tuple(scores.shape)}"
        )
    if isinstance(target_col, int):
        target_col = torch.full(
            (scores.shape[0],),
            target_col,
            dtype=torch.long,
            device=scores.device,
        )
    target = scores.gather(1, target_col[:, None])
    others = torch.ones_like(scores, dtype=torch.bool).scatter_(
        1, target_col[:, None], False
    )
    return ((scores >= target) & others).sum(dim=1)


def hit_rate_at_k(ranks: torch.Tensor, k: int = 10) -> float:
    """Share of targets ranked within the top ``k`` (ranks are 0-based)."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    return (ranks < k).float().mean().item()


def ndcg_at_k(ranks: torch.Tensor, k: int = 10) -> float:
    """NDCG@k with one relevant item per row: ``1 / log2(rank + 2)`` if
    ``rank < k`` else 0."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    gains = 1.0 / torch.log2(ranks.double() + 2.0)
    return torch.where(ranks < k, gains, torch.zeros_like(gains)).mean().item()


# -- detection: average precision and mAP -------------------------------------
def average_precision(recall, precision, method: str = "all") -> float:
    """Area under an interpolated precision–recall curve.

    ``recall`` and ``precision`` are the cumulative values down a
    score-sorted detection list (recall non-decreasing). ``method="all"``:
    all-point interpolation (VOC); ``method="101"``: COCO's 101 recall points.
    """
    r = np.asarray(recall, dtype=np.float64).ravel()
    p = np.asarray(precision, dtype=np.float64).ravel()
    if r.shape != p.shape:
        raise ValueError(
            f"recall and precision must have the same length, got {r.shape} "
            f"and {p.shape}"
        )
    if method not in ("all", "101"):
        raise ValueError(f"method must be 'all' or '101', got {method!r}")
    if r.size == 0:
        return 0.0
    if np.any(np.diff(r) < -1e-12):
        raise ValueError(
            "recall must be non-decreasing (cumulative down a score-sorted "
            "list)"
        )
    if method == "all":
        mrec = np.concatenate([[0.0], r, [1.0]])
        mpre = np.concatenate([[0.0], p, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[
            ::-1
        ]  # best precision at any recall >= r
        i = np.nonzero(mrec[1:] != mrec[:-1])[0]
        return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))
    pre = np.maximum.accumulate(p[::-1])[::-1]
    points = np.linspace(0.0, 1.0, 101)
    idx = np.searchsorted(r, points, side="left")
    q = np.where(idx < len(pre), pre[np.minimum(idx, len(pre) - 1)], 0.0)
    return float(q.mean())


def match_detections(
    pred_boxes: torch.Tensor,
    gt_boxes: torch.Tensor,
    iou_threshold: float = 0.5,
    style: str = "voc",
) -> torch.Tensor:
    """Mark each detection of *one image and one class* TP (True) or FP
    (False).

    ``pred_boxes`` must already be sorted by score, best first.
    """
    n = len(pred_boxes)
    tp = torch.zeros(n, dtype=torch.bool)
    if n == 0 or len(gt_boxes) == 0:
        return tp
    iou = box_iou(pred_boxes.float(), gt_boxes.float())
    claimed = torch.zeros(len(gt_boxes), dtype=torch.bool)
    for i in range(n):
        if style == "voc":
            best, j = iou[i].max(0)
            if best > iou_threshold and not claimed[j]:
                tp[i], claimed[j] = True, True
        else:
            cand = iou[i].masked_fill(claimed, -1.0)
            best, j = cand.max(0)
            if best >= iou_threshold:
                tp[i], claimed[j] = True, True
    return tp


def _check_list(name, xs, n, last_dim=None):
    if not isinstance(xs, (list, tuple)) or len(xs) != n:
        raise ValueError(
            f"{name} must be a list of {n} tensors (one per image)"
        )
    for i, x in enumerate(xs):
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"{name}[{i}] must be a torch.Tensor, got {type(x).__name__}"
            )
        if (
            last_dim is not None
            and x.numel()
            and (x.dim() != 2 or x.shape[1] != last_dim)
        ):
            raise ValueError(
                f"{name}[{i}] must be (k, {last_dim}), got shape "
                f"{tuple(x.shape)}"
            )


def mean_average_precision(
    pred_boxes,
    pred_scores,
    pred_labels,
    gt_boxes,
    gt_labels,
    *,
    iou_threshold: float = 0.5,
    style: str = "voc",
    max_dets: int = 100,
    num_classes: int | None = None,
) -> tuple[float, dict[int, float]]:
    """mAP at one IoU threshold over a set of images.

    Every argument is a list with one tensor per image: predicted ``xyxy``
    boxes ``(k, 4)``, scores ``(k,)``, labels ``(k,)``; ground-truth boxes
    ``(m, 4)`` and labels ``(m,)``. Images without objects or without
    detections are fine. Returns ``(mAP, {class: AP})`` over the classes with
    at least one ground-truth box (mAP is NaN if there are none). ``style``:
    ``"voc"`` (all-point) or ``"coco"`` (101-point, as ``pycocotools``).
    """
    if style not in ("voc", "coco"):
        raise ValueError(f"style must be 'voc' or 'coco', got {style!r}")
    if not 0.0 < iou_threshold < 1.0:
        raise ValueError(
            f"iou_threshold must be in (0, 1), got {iou_threshold}"
        )
    n = len(gt_boxes) if isinstance(gt_boxes, (list, tuple)) else -1
    if n < 0:
        raise ValueError(
            "gt_boxes must be a list of (m, 4) tensors, one per image"
        )
    _check_list("pred_boxes", pred_boxes, n, 4)
    _check_list("pred_scores", pred_scores, n)
    _check_list("pred_labels", pred_labels, n)
    _check_list("gt_boxes", gt_boxes, n, 4)
    _check_list("gt_labels", gt_labels, n)
    for i in range(n):
        k = len(pred_boxes[i].reshape(-1, 4))
        if pred_scores[i].numel() != k or pred_labels[i].numel() != k:
            raise ValueError(
                f"image {i}: pred_boxes, pred_scores and pred_labels must "
                "have the same length"
            )
        if gt_labels[i].numel() != len(gt_boxes[i].reshape(-1, 4)):
            raise ValueError(
                f"image {i}: gt_boxes and gt_labels must have the same length"
            )
    classes = sorted(
        {int(c) for g in gt_labels for c in g.reshape(-1).tolist()}
    )
    if num_classes is not None:
        classes = [c for c in classes if c < num_classes]
    aps: dict[int, float] = {}
    for c in classes:
        scores, tps, n_gt = [], [], 0
        for i in range(n):
            pb, ps, pl = (
                pred_boxes[i].reshape(-1, 4),
                pred_scores[i].reshape(-1),
                pred_labels[i].reshape(-1),
            )
            if (
                style == "coco" and len(ps) > max_dets
            ):  # pycocotools keeps the best max_dets per image
                top = torch.argsort(ps, descending=True, stable=True)[
                    :max_dets
                ]
                pb, ps, pl = pb[top], ps[top], pl[top]
            gb, gl = gt_boxes[i].reshape(-1, 4), gt_labels[i].reshape(-1)
            sel, gsel = pl == c, gl == c
            n_gt += int(gsel.sum())
            order = torch.argsort(ps[sel], descending=True, stable=True)
            tps.append(
                match_detections(
                    pb[sel][order], gb[gsel], iou_threshold, style
                )
            )
            scores.append(ps[sel][order].double())
        scores_all, tp_all = torch.cat(scores), torch.cat(tps)
        order = torch.argsort(scores_all, descending=True, stable=True)
        tp = tp_all[order].double().numpy()
        ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
        recall = ctp / n_gt
        precision = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
        aps[c] = average_precision(
            recall, precision, "all" if style == "voc" else "101"
        )
    m = float(np.mean(list(aps.values()))) if aps else float("nan")
    return m, aps
