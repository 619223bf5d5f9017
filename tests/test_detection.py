"""Synthetic detection data, the detectors' shapes, Hungarian matching, losses
and bad input."""

import pytest
import torch
from scipy.optimize import linear_sum_assignment
from torch.testing import assert_close

from attnlib.data.vision import check_detection_targets, make_shapes_detection
from attnlib.models.detection import (
    DETR,
    DenseDetector,
    DenseDetectorConfig,
    DETRConfig,
    TwoStageConfig,
    TwoStageDetector,
    dense_loss,
    detr_loss,
    detr_predict,
    hungarian_match,
    matching_cost,
    position_encoding_2d,
    two_stage_loss,
    two_stage_targets,
)
from attnlib.models.detection.heads import _classwise_nms


@pytest.fixture(scope="module")
def data():
    return make_shapes_detection(
        6, image_size=32, min_size=8, max_size=12, seed=3
    )


def test_data_seeded_exact_and_valid(data):
    again = make_shapes_detection(
        6, image_size=32, min_size=8, max_size=12, seed=3
    )
    assert torch.equal(data.images, again.images) and all(
        torch.equal(a, b) for a, b in zip(data.boxes, again.boxes)
    )
    assert (
        data.images.shape == (6, 3, 32, 32)
        and data.images.min() >= 0
        and data.images.max() <= 1
    )
    for img, boxes, labels in zip(data.images, data.boxes, data.labels):
        assert (
            1 <= len(boxes) <= 4
            and labels.dtype == torch.int64
            and (labels < 3).all()
        )
        drawn = (img < 1).any(0)  # non-white pixels
        covered = torch.zeros_like(drawn)
        for x0, y0, x1, y1 in boxes.long().tolist():
            assert (
                drawn[y0:y1, x0:x1].any(0).all()
                and drawn[y0:y1, x0:x1].any(1).all()
            )  # tight box
            covered[y0:y1, x0:x1] = True
        assert not (
            drawn & ~covered
        ).any()  # every drawn pixel is inside a box
    check_detection_targets(
        data.images, data.boxes, data.labels, num_classes=3
    )
    sub = data[[0, 2]]
    assert len(sub) == 2 and torch.equal(sub.images[1], data.images[2])
    assert_close(data.inputs, 1 - data.images)  # background 0 for the model
    assert (data.inputs[:, :, 0, 0] == 0).all()  # corners are background


def test_empty_images_allowed():
    d = make_shapes_detection(
        8,
        image_size=32,
        min_objects=0,
        max_objects=1,
        min_size=8,
        max_size=10,
        seed=0,
    )
    assert any(len(b) == 0 for b in d.boxes)
    assert all(b.shape == (len(lab), 4) for b, lab in zip(d.boxes, d.labels))


def test_bad_input():
    imgs = torch.zeros(2, 3, 16, 16)
    with pytest.raises(ValueError, match="RGB"):
        check_detection_targets(
            torch.zeros(2, 1, 16, 16), [torch.zeros(0, 4)] * 2
        )
    with pytest.raises(ValueError, match="outside"):
        check_detection_targets(
            imgs, [torch.tensor([[0.0, 0, 20, 5]]), torch.zeros(0, 4)]
        )
    clipped = check_detection_targets(
        imgs, [torch.tensor([[-2.0, 0, 20, 5]]), torch.zeros(0, 4)], clip=True
    )
    assert clipped[0].tolist() == [[0.0, 0.0, 16.0, 5.0]] and clipped[
        1
    ].shape == (0, 4)
    with pytest.raises(ValueError, match="no area"):
        check_detection_targets(
            imgs, [torch.tensor([[5.0, 5, 5, 8]]), torch.zeros(0, 4)]
        )
    with pytest.raises(ValueError, match="one per image"):
        check_detection_targets(imgs, [torch.zeros(0, 4)])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        check_detection_targets(
            imgs,
            [torch.tensor([[1.0, 1, 4, 4]]), torch.zeros(0, 4)],
            [torch.tensor([3]), torch.zeros(0, dtype=torch.long)],
            num_classes=3,
        )
    with pytest.raises(ValueError, match="max_objects"):
        make_shapes_detection(2, min_objects=3, max_objects=2)
    with pytest.raises(ValueError, match="classes"):
        make_shapes_detection(2, classes=("hexagon",))
    model = DETR(
        DETRConfig(
            image_size=32,
            num_queries=4,
            d_model=32,
            num_layers=1,
            num_decoder_layers=1,
        )
    )
    with pytest.raises(ValueError, match="3 channels|RGB"):
        model(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="32x32"):
        model(torch.zeros(1, 3, 48, 48))
    with pytest.raises(ValueError, match="4-D"):
        DenseDetector(DenseDetectorConfig(image_size=32))(
            torch.zeros(3, 32, 32)
        )
    with pytest.raises(ValueError, match="divisible"):
        DETRConfig(image_size=30)


def test_matching_cost_and_hungarian():
    logits = torch.tensor(
        [[5.0, 0, 0, 0], [0, 5.0, 0, 0], [0, 0, 0, 5.0]]
    )  # 3 queries, 3 classes + no-object
    boxes = torch.tensor(
        [[0.2, 0.2, 0.1, 0.1], [0.7, 0.7, 0.2, 0.2], [0.5, 0.5, 0.3, 0.3]]
    )
    gt_labels, gt_boxes = (
        torch.tensor([1, 0]),
        torch.tensor([[0.7, 0.7, 0.2, 0.2], [0.2, 0.2, 0.1, 0.1]]),
    )
    cost = matching_cost(logits, boxes, gt_labels, gt_boxes)
    assert cost.shape == (3, 2)
    rows, cols = linear_sum_assignment(cost.numpy())
    assert dict(zip(rows.tolist(), cols.tolist())) == {0: 1, 1: 0}
    match = hungarian_match(
        torch.stack([logits, logits]),
        torch.stack([boxes, boxes]),
        [gt_labels, torch.zeros(0, dtype=torch.long)],
        [gt_boxes, torch.zeros(0, 4)],
    )
    assert (
        match[0][0].tolist() == [0, 1]
        and match[0][1].tolist() == [1, 0]
        and match[1][0].numel() == 0
    )


def test_detr_shapes_weights_and_loss(data):
    torch.manual_seed(0)
    cfg = DETRConfig(
        image_size=32,
        num_queries=5,
        d_model=32,
        num_heads=2,
        num_layers=1,
        num_decoder_layers=2,
        d_ff=64,
        backbone_channels=(8, 16),
    )
    model = DETR(cfg)
    out, weights = model(data.inputs[:3], need_weights=True)
    assert out["logits"].shape == (2, 3, 5, 4) and out["boxes"].shape == (
        2,
        3,
        5,
        4,
    )
    assert out["feature_size"] == (8, 8) and weights["cross"][0].shape == (
        3,
        2,
        5,
        64,
    )
    torch.testing.assert_close(
        weights["cross"][1].sum(-1), torch.ones(3, 2, 5)
    )
    p0 = out["logits"][0].softmax(-1)[..., -1]
    assert torch.allclose(
        p0.mean(), torch.tensor(0.7), atol=0.15
    )  # no-object prior from the bias
    boxes = list(data.boxes[:3])
    labels = list(data.labels[:3])
    boxes[1], labels[1] = (
        torch.zeros(0, 4),
        torch.zeros(0, dtype=torch.long),
    )  # an image with no objects
    loss = detr_loss(out, boxes, labels, image_size=32)
    torch.manual_seed(0)
    assert_close(model.loss(data.inputs[:3], boxes, labels), loss)
    loss.backward()
    assert torch.isfinite(loss) and model.query_embed.grad.abs().sum() > 0
    b, s, lab = detr_predict(model, data.inputs[:3])
    assert (
        len(b) == 3
        and b[0].shape == (5, 4)
        and s[0].shape == (5,)
        and lab[0].max() < 3
    )
    feats = model.backbone(data.inputs[:2])
    assert model(None, feats=feats)["logits"].shape == (2, 2, 5, 4)
    # an earlier decoder layer, and class-wise NMS on top
    with torch.no_grad():
        out2 = model(None, feats=feats)
    first = detr_predict(model, feats=feats, layer=0)
    s0, _ = out2["logits"][0].softmax(-1)[..., :-1].max(-1)
    assert_close(torch.stack(first[1]), s0)
    assert_close(
        torch.stack(detr_predict(model, feats=feats)[1]),
        torch.stack(detr_predict(model, feats=feats, layer=1)[1]),
    )
    kept = detr_predict(model, feats=feats, layer=0, iou_threshold=0.5)
    for bx, s, lab, k in zip(*first, zip(*kept)):
        keep = _classwise_nms(bx, s, lab, 0.5, model.cfg.image_size)
        assert torch.equal(k[1], s[keep])
    for bad in (2, -3, 0.5):
        with pytest.raises(ValueError, match="layer must be an int"):
            detr_predict(model, feats=feats, layer=bad)
    assert position_encoding_2d(3, 4, 8).shape == (12, 8)


def test_dense_and_two_stage(data):
    torch.manual_seed(0)
    dense = DenseDetector(
        DenseDetectorConfig(
            num_classes=3, image_size=32, backbone_channels=(8, 16, 16)
        )
    )
    out = dense(data.inputs)
    assert out["logits"].shape == (6, 16, 4) and out["boxes"].shape == (
        6,
        16,
        4,
    )
    loss = dense_loss(out, data.boxes, data.labels, image_size=32)
    assert torch.isfinite(loss)
    assert_close(dense.loss(data.inputs, data.boxes, data.labels), loss)
    boxes, scores, labels = dense.predict(data.inputs, top_k=5)
    assert len(boxes) == 6 and all(len(b) <= 5 for b in boxes)
    with torch.no_grad():
        feats = dense.features(data.inputs)
    proposals = torch.stack(
        [
            torch.cat(
                [b, torch.tensor([[0.0, 0, 8, 8]]).expand(4 - len(b), 4)]
            )
            if len(b) < 4
            else b[:4]
            for b in data.boxes
        ]
    )
    for rel in (True, False):
        head = TwoStageDetector(
            TwoStageConfig(
                16,
                3,
                32,
                stride=8,
                pool=2,
                d_model=16,
                num_heads=2,
                d_ff=32,
                relation=rel,
            )
        )
        o, w = head(feats, proposals, need_weights=True)
        assert o["logits"].shape == (6, 4, 4) and o["boxes"].shape == (6, 4, 4)
        assert head.region_tokens(feats, proposals).shape == (6, 4, 16)
        with pytest.raises(ValueError, match="proposals must be"):
            head.region_tokens(feats, proposals[..., :3])
        assert (len(w) == 1 and w[0].shape == (6, 2, 4, 4)) if rel else w == []
        cls, tgt = two_stage_targets(proposals, data.boxes, data.labels, 3)
        loss = two_stage_loss(o, cls, tgt, image_size=32)
        assert_close(head.loss(feats, proposals, cls, tgt), loss)
        loss.backward()
    # unique targets: a duplicate proposal of an object becomes background
    props = torch.tensor(
        [[[0.0, 0, 10, 10], [0.5, 0, 10, 10], [20, 20, 30, 30]]]
    )
    cls, _ = two_stage_targets(
        props, [torch.tensor([[0.0, 0, 10, 10]])], [torch.tensor([2])], 3
    )
    assert cls.tolist() == [[2, 3, 3]]
    cls, _ = two_stage_targets(
        props,
        [torch.tensor([[0.0, 0, 10, 10]])],
        [torch.tensor([2])],
        3,
        unique=False,
    )
    assert cls.tolist() == [[2, 2, 3]]
