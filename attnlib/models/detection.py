"""Small object detectors that show where attention enters detection.

* :class:`ConvBackbone`: a few strided convolutions, image -> feature map.
* :class:`DenseDetector`: a one-stage *dense* baseline (one prediction per
  feature-map cell, the cell holding an object's centre is responsible for
  it; duplicates removed by NMS), in the spirit of YOLO / CenterNet.
* :class:`TwoStageDetector`: a second stage on top of proposals: RoI pooling
  (:func:`attnlib.boxes.roi_pool`, written with ``grid_sample``), an MLP per
  region, an optional **relation module** (self-attention across the regions
  of one image, Hu et al., 2018) and class / box-refinement heads.
* :class:`DETR`: set prediction (Carion et al., 2020): CNN features + 2-D
  positions -> Transformer encoder -> decoder with learned object queries ->
  one (class, box) per query; trained with :func:`hungarian_match` and
  :func:`detr_loss`.

Boxes the models predict are normalised ``cxcywh`` in ``[0, 1]``;
:func:`detr_predict`, :meth:`DenseDetector.predict` and
:meth:`TwoStageDetector.predict` return pixel ``xyxy`` boxes, scores, labels
per image, ready for :func:`attnlib.metrics.mean_average_precision`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import check_images as _check_images
from .._validate import check_positive_int, check_tensor, shape_str
from ..boxes import (
    box_cxcywh_to_xyxy,
    box_iou,
    box_xyxy_to_cxcywh,
    generalized_box_iou,
    nms,
    roi_pool,
)
from ..device import evaluating
from ..layers import MultiHeadAttention, sinusoidal_encoding
from .transformer import DecoderBlock, EncoderBlock, FeedForward

__all__ = [
    "check_images",
    "ConvBackbone",
    "position_encoding_2d",
    "DETRConfig",
    "DETR",
    "matching_cost",
    "hungarian_match",
    "detr_loss",
    "detr_predict",
    "DenseDetector",
    "dense_loss",
    "TwoStageDetector",
    "two_stage_targets",
    "two_stage_loss",
]


def check_images(images, image_size: int | None = None) -> None:
    """Raise unless ``images`` is a float ``(B, 3, H, W)`` batch (of
    ``image_size`` pixels if given)."""
    _check_images("images", images, channels=3, size=image_size, short=True)


class ConvBackbone(nn.Module):
    """``len(channels)`` stages of (3x3 conv, stride 2, BatchNorm, ReLU) + a
    3x3 conv each: output stride ``2 ** len(channels)``."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 64)):
        super().__init__()
        layers, c_in = [], 3
        for c in channels:
            layers += [
                nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(),
                nn.Conv2d(c, c, 3, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(),
            ]
            c_in = c
        self.net = nn.Sequential(*layers)
        self.out_channels, self.stride = c_in, 2 ** len(channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(1.0 - images)  # white background -> 0


def position_encoding_2d(h: int, w: int, d: int) -> torch.Tensor:
    """Sinusoidal 2-D positions ``(h * w, d)``: the first half of the features
    encodes the row, the second half the column (row-major order, like
    ``feature_map.flatten(2)``)."""
    if d % 4:
        raise ValueError(
            f"d must be divisible by 4 for 2-D sinusoidal positions, got {d}"
        )
    rows = sinusoidal_encoding(h, d // 2)  # (h, d/2)
    cols = sinusoidal_encoding(w, d // 2)  # (w, d/2)
    return torch.cat(
        [rows[:, None].expand(h, w, d // 2), cols[None].expand(h, w, d // 2)],
        -1,
    ).reshape(h * w, d)


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


def _init_no_object_bias(linear: nn.Linear, p_background: float) -> None:
    """Set the class head's bias so that the initial probability of "no object"
    is ``p_background``."""
    n_fg = linear.out_features - 1
    with torch.no_grad():
        linear.bias.zero_()
        linear.bias[-1] = math.log(p_background * n_fg / (1 - p_background))


# -----------------------------------------------------------------------------
# DETR: set prediction with a Transformer
# -----------------------------------------------------------------------------
@dataclass
class DETRConfig:
    """Sizes of the small DETR. ``num_classes`` excludes the extra "no object"
    class."""

    num_classes: int = 3
    image_size: int = 48
    num_queries: int = 8
    d_model: int = 64
    num_heads: int = 4
    num_encoder_layers: int = 2
    num_decoder_layers: int = 3
    d_ff: int = 128
    backbone_channels: tuple[int, ...] = (32, 64, 64)
    p_no_object: float = 0.7

    def __post_init__(self):
        for name in (
            "num_classes",
            "image_size",
            "num_queries",
            "d_model",
            "num_heads",
            "num_encoder_layers",
            "num_decoder_layers",
            "d_ff",
        ):
            check_positive_int(name, getattr(self, name))
        if self.d_model % self.num_heads or self.d_model % 4:
            raise ValueError(
                f"d_model={self.d_model} must be divisible by "
                f"num_heads={self.num_heads} and by 4"
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
    ``(L, B, Q, C+1)`` and ``boxes`` ``(L, B, Q, 4)`` (``L`` = decoder layers);
    with ``need_weights=True`` also ``cross_attn``: a list of ``L`` tensors
    ``(B, heads, Q, h*w)`` and ``feature_size`` ``(h, w)``.
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
            EncoderBlock(cfg.d_model, cfg.num_heads, cfg.d_ff)
            for _ in range(cfg.num_encoder_layers)
        )
        self.decoder = nn.ModuleList(
            DecoderBlock(cfg.d_model, cfg.num_heads, cfg.d_ff)
            for _ in range(cfg.num_decoder_layers)
        )
        self.query_embed = nn.Parameter(
            torch.randn(cfg.num_queries, cfg.d_model) * 0.5
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
        result = {"logits": torch.stack(logits), "boxes": torch.stack(boxes)}
        if need_weights:
            result["cross_attn"], result["feature_size"] = cross, (h, w)
        return result


def matching_cost(
    logits: torch.Tensor,
    boxes: torch.Tensor,
    gt_labels: torch.Tensor,
    gt_boxes: torch.Tensor,
    *,
    w_class: float = 1.0,
    w_l1: float = 5.0,
    w_giou: float = 2.0,
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
    no_object_weight: float = 0.1,
    w_class: float = 1.0,
    w_l1: float = 5.0,
    w_giou: float = 2.0,
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


@torch.no_grad()
def detr_predict(
    model: DETR,
    images: torch.Tensor | None = None,
    *,
    feats: torch.Tensor | None = None,
    batch_size: int = 256,
):
    """Run ``model`` on ``images`` (or precomputed ``feats``) and return
    per-image ``(boxes xyxy in pixels, scores, labels)``: every query gives one
    detection, scored by its best object-class probability (no NMS needed)."""
    boxes, scores, labels = [], [], []
    src = images if feats is None else feats
    with evaluating(model):
        for start in range(0, len(src), batch_size):
            chunk = src[start : start + batch_size]
            out = model(chunk) if feats is None else model(None, feats=chunk)
            prob = out["logits"][-1].softmax(-1)[..., :-1]
            s, lab = prob.max(-1)
            bx = box_cxcywh_to_xyxy(out["boxes"][-1]) * model.cfg.image_size
            boxes += list(bx)
            scores += list(s)
            labels += list(lab)
    return boxes, scores, labels


# -----------------------------------------------------------------------------
# Dense one-stage baseline
# -----------------------------------------------------------------------------
class DenseDetector(nn.Module):
    """One prediction per feature-map cell: ``num_classes + 1`` logits
    (last = background) and a box (centre offset inside the cell, width and
    height as fractions of the image).

    Training target (:func:`dense_loss`): the cell that holds an object's
    centre predicts it, every other cell predicts background. ``predict``
    removes duplicates with NMS.
    """

    def __init__(
        self,
        num_classes: int = 3,
        image_size: int = 48,
        channels: tuple[int, ...] = (32, 64, 64),
        p_background: float = 0.9,
    ):
        super().__init__()
        self.num_classes, self.image_size = num_classes, image_size
        self.backbone = ConvBackbone(channels)
        if image_size % self.backbone.stride:
            raise ValueError(
                f"image_size={image_size} must be divisible by the stride "
                f"{self.backbone.stride}"
            )
        c = self.backbone.out_channels
        self.head = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU())
        self.cls = nn.Conv2d(c, num_classes + 1, 1)
        self.box = nn.Conv2d(c, 4, 1)
        with torch.no_grad():
            self.cls.bias.zero_()
            self.cls.bias[-1] = math.log(
                p_background * num_classes / (1 - p_background)
            )

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

    @torch.no_grad()
    def predict(
        self,
        images: torch.Tensor,
        *,
        iou_threshold: float | None = 0.5,
        top_k: int = 20,
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
                for bx, s, lab in zip(boxes, scores, labels):
                    keep = torch.argsort(s, descending=True)[:top_k]
                    bx, s, lab = bx[keep], s[keep], lab[keep]
                    # class-wise NMS: offset boxes per class so classes never
                    # overlap
                    if iou_threshold is not None:
                        k = nms(
                            bx + lab[:, None] * 4.0 * self.image_size,
                            s,
                            iou_threshold,
                        )
                        bx, s, lab = bx[k], s[k], lab[k]
                    for r, v in zip(res, (bx, s, lab)):
                        r.append(v)
        return res


def dense_loss(
    outputs: dict,
    gt_boxes: list,
    gt_labels: list,
    *,
    image_size: int,
    w_l1: float = 5.0,
    w_giou: float = 2.0,
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


# -----------------------------------------------------------------------------
# Two-stage: proposals -> RoI features -> relation module -> heads
# -----------------------------------------------------------------------------
class TwoStageDetector(nn.Module):
    """The second stage of a two-stage detector, with or without a relation
    module.

    Given a feature map ``(B, C, h, w)`` and ``k`` proposals per image (pixel
    ``xyxy``), each proposal is cropped with :func:`roi_pool` to
    ``pool x pool`` cells, flattened and embedded by an MLP, plus an
    embedding of its box geometry. With ``relation=True`` the ``k`` region
    features of an image then attend to one another (``num_relation_layers``
    pre-norm blocks of multi-head self-attention + feed-forward): each region
    can see what the others look like and where they are. Heads predict
    ``num_classes + 1`` logits (last = background) and a box refinement
    ``(dx, dy, dw, dh)`` relative to the proposal.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int = 3,
        image_size: int = 48,
        *,
        stride: int = 8,
        pool: int = 4,
        d_model: int = 64,
        num_heads: int = 4,
        relation: bool = True,
        num_relation_layers: int = 1,
    ):
        super().__init__()
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
                MultiHeadAttention(d_model, num_heads)
                for _ in range(num_relation_layers)
            )
            if relation
            else nn.ModuleList()
        )
        self.rel_ff = nn.ModuleList(
            FeedForward(d_model, 2 * d_model)
            for _ in range(len(self.rel_attn))
        )
        self.norms = nn.ModuleList(
            nn.LayerNorm(d_model) for _ in range(2 * len(self.rel_attn))
        )
        self.out_norm = nn.LayerNorm(d_model)
        self.cls = nn.Linear(d_model, num_classes + 1)
        self.reg = nn.Linear(d_model, 4)
        nn.init.zeros_(self.reg.weight)
        nn.init.zeros_(self.reg.bias)

    def forward(
        self,
        feats: torch.Tensor,
        proposals: torch.Tensor,
        *,
        need_weights: bool = False,
    ) -> dict:
        """``proposals``: ``(B, k, 4)`` pixel ``xyxy``. Returns ``logits``
        ``(B, k, C+1)``, ``boxes`` ``(B, k, 4)`` refined pixel ``xyxy`` (and
        ``attn`` ``(B, heads, k, k)`` per layer)."""
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
        x = x + self.geometry(geo)
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
                p[..., 2] * d[..., 2].clamp(max=4).exp(),
                p[..., 3] * d[..., 3].clamp(max=4).exp(),
            ],
            -1,
        )
        out = {"logits": self.cls(x), "boxes": box_cxcywh_to_xyxy(refined)}
        if need_weights:
            out["attn"] = weights
        return out

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
        res = ([], [], [])
        for bx, s, lab in zip(out["boxes"], scores, labels):
            if iou_threshold is not None:
                keep = nms(
                    bx + lab[:, None] * 4.0 * self.image_size, s, iou_threshold
                )
                bx, s, lab = bx[keep], s[keep], lab[keep]
            for r, v in zip(res, (bx, s, lab)):
                r.append(v)
        return res


def two_stage_targets(
    proposals: torch.Tensor,
    gt_boxes: list,
    gt_labels: list,
    num_classes: int,
    *,
    iou_threshold: float = 0.5,
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
    w_l1: float = 5.0,
    w_giou: float = 2.0,
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
