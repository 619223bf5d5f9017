"""Small object detectors that show where attention enters detection.

One concept per module:

* :mod:`.backbone`: :func:`check_images`, :class:`ConvBackbone` (a few
  strided convolutions, image -> feature map) and
  :func:`position_encoding_2d`.
* :mod:`.heads`: what the detectors' outputs share (an MLP head, the
  "background" prior of the class head, class-wise NMS).
* :mod:`.dense`: :class:`DenseDetector`, a one-stage *dense* baseline (one
  prediction per feature-map cell, the cell holding an object's centre is
  responsible for it; duplicates removed by NMS), in the spirit of YOLO /
  CenterNet, and :func:`dense_loss`.
* :mod:`.two_stage`: :class:`TwoStageDetector`, a second stage on top of
  proposals: RoI pooling (:func:`attnlib.boxes.roi_pool`, written with
  ``grid_sample``), an MLP per region, an optional **relation module**
  (self-attention across the regions of one image, Hu et al., 2018) and
  class / box-refinement heads; :func:`two_stage_targets`,
  :func:`two_stage_loss`.
* :mod:`.detr`: :class:`DETR`, set prediction (Carion et al., 2020): CNN
  features + 2-D positions -> Transformer encoder -> decoder with learned
  object queries -> one (class, box) per query; :class:`DETRConfig`,
  :func:`detr_predict`.
* :mod:`.set_loss`: DETR's training signal, :func:`matching_cost`,
  :func:`hungarian_match` and :func:`detr_loss`.

Boxes the models predict are normalised ``cxcywh`` in ``[0, 1]``;
:func:`detr_predict`, :meth:`DenseDetector.predict` and
:meth:`TwoStageDetector.predict` return pixel ``xyxy`` boxes, scores, labels
per image, ready for :func:`attnlib.metrics.mean_average_precision`.
"""

from .backbone import ConvBackbone, check_images, position_encoding_2d
from .dense import DenseDetector, DenseDetectorConfig, dense_loss
from .detr import DETR, DETRConfig, detr_predict
from .set_loss import detr_loss, hungarian_match, matching_cost
from .two_stage import (
    TwoStageConfig,
    TwoStageDetector,
    two_stage_loss,
    two_stage_targets,
)

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
    "DenseDetectorConfig",
    "DenseDetector",
    "dense_loss",
    "TwoStageConfig",
    "TwoStageDetector",
    "two_stage_targets",
    "two_stage_loss",
]
