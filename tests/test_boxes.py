"""Box utilities: hand-computed IoU / GIoU / conversions, NMS, RoI pooling via
grid_sample."""

import pytest
import torch
from torch.testing import assert_close

from attnlib.boxes import (
    box_area,
    box_convert,
    box_cxcywh_to_xyxy,
    box_iou,
    box_xyxy_to_cxcywh,
    generalized_box_iou,
    nms,
    roi_pool,
)


def test_conversions_hand_computed():
    xyxy = torch.tensor([[2.0, 3.0, 6.0, 11.0]])
    assert_close(
        box_xyxy_to_cxcywh(xyxy), torch.tensor([[4.0, 7.0, 4.0, 8.0]])
    )
    assert_close(
        box_cxcywh_to_xyxy(torch.tensor([[4.0, 7.0, 4.0, 8.0]])), xyxy
    )
    assert_close(
        box_convert(xyxy, "xyxy", "xywh"), torch.tensor([[2.0, 3.0, 4.0, 8.0]])
    )
    assert_close(
        box_convert(torch.tensor([[2.0, 3.0, 4.0, 8.0]]), "xywh", "cxcywh"),
        torch.tensor([[4.0, 7.0, 4.0, 8.0]]),
    )
    x = torch.rand(5, 4) * 10
    x[:, 2:] += x[:, :2]
    for fmt in ("cxcywh", "xywh"):
        assert_close(box_convert(box_convert(x, "xyxy", fmt), fmt, "xyxy"), x)
    assert_close(box_area(xyxy), torch.tensor([32.0]))


def test_iou_and_giou_hand_computed():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor(
        [
            [1.0, 1.0, 3.0, 3.0],  # overlap 1, union 7, hull 9
            [0.0, 0.0, 2.0, 2.0],  # identical
            [4.0, 0.0, 6.0, 2.0],
        ]
    )  # disjoint: hull 12, union 8
    assert_close(box_iou(a, b), torch.tensor([[1 / 7, 1.0, 0.0]]))
    assert_close(
        generalized_box_iou(a, b),
        torch.tensor([[1 / 7 - 2 / 9, 1.0, -4 / 12]]),
    )
    assert box_iou(a, b).shape == (1, 3)
    assert box_iou(torch.zeros(0, 4), b).shape == (0, 3)


def test_giou_keeps_falling_for_disjoint_boxes():
    a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    far = torch.tensor([[d, 0.0, d + 1.0, 1.0] for d in (2.0, 4.0, 8.0)])
    g = generalized_box_iou(a, far)[0]
    assert (
        (box_iou(a, far) == 0).all()
        and (g[1:] < g[:-1]).all()
        and (g > -1).all()
    )


def test_nms():
    boxes = torch.tensor(
        [[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert nms(boxes, scores, 0.5).tolist() == [3, 2]
    assert nms(boxes, scores, 0.95).tolist() == [3, 0, 1, 2]
    assert nms(torch.zeros(0, 4), torch.zeros(0)).numel() == 0


def test_roi_pool_constant_and_ramp():
    feats = torch.full((1, 2, 8, 8), 3.0)
    out = roi_pool(feats, [torch.tensor([[1.0, 1.0, 5.0, 6.0]])], 3)
    assert out.shape == (1, 2, 3, 3)
    assert_close(out, torch.full((1, 2, 3, 3), 3.0))
    # a linear ramp f(x, y) = x: the value at continuous coordinate u is
    # u - 0.5 (cell j holds j at its centre j+0.5), bilinear sampling is exact
    # on it, so each bin's mean is the ramp at the bin's centre
    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 8, 8).contiguous()
    out = roi_pool(ramp, [torch.tensor([[2.0, 2.0, 6.0, 6.0]])], 2)
    assert_close(out[0, 0], torch.tensor([[2.5, 4.5], [2.5, 4.5]]))


def test_roi_pool_whole_map_reproduces_features_and_scale():
    feats = torch.randn(2, 3, 4, 4)
    boxes = [
        torch.zeros(0, 4),
        torch.tensor([[0.0, 0.0, 16.0, 16.0]]),
    ]  # stride 4: the whole 4x4 map
    out = roi_pool(feats, boxes, 4, spatial_scale=0.25, sampling_ratio=1)
    assert out.shape == (1, 3, 4, 4)
    assert_close(out[0], feats[1])
    same = roi_pool(
        feats,
        torch.tensor([[1.0, 0.0, 0.0, 16.0, 16.0]]),
        4,
        spatial_scale=0.25,
        sampling_ratio=1,
    )
    assert_close(same, out)


def test_roi_pool_gradient_flows():
    feats = torch.randn(1, 2, 6, 6, requires_grad=True)
    roi_pool(
        feats, [torch.tensor([[0.0, 0.0, 24.0, 24.0]])], 2, spatial_scale=0.25
    ).sum().backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0


def test_bad_input():
    with pytest.raises(ValueError, match="4"):
        box_iou(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError):
        box_area([0, 0, 1, 1])
    with pytest.raises(ValueError, match="in_fmt"):
        box_convert(torch.zeros(1, 4), "xyxy", "yxyx")
    with pytest.raises(ValueError, match="features"):
        roi_pool(torch.zeros(2, 4, 4), [torch.zeros(1, 4)])
    with pytest.raises(ValueError, match="one per image"):
        roi_pool(torch.zeros(2, 1, 4, 4), [torch.zeros(1, 4)])
    with pytest.raises(ValueError, match="image indices"):
        roi_pool(torch.zeros(1, 1, 4, 4), torch.tensor([[3.0, 0, 0, 1, 1]]))
    assert roi_pool(torch.zeros(1, 1, 4, 4), [torch.zeros(0, 4)], 2).shape == (
        0,
        1,
        2,
        2,
    )
