"""mAP@0.5: hand-computed VOC cases and agreement with pycocotools (COCO's
101-point AP at IoU 0.5)."""

import contextlib
import io

import numpy as np
import pytest
import torch

from attnlib.metrics import (
    average_precision,
    match_detections,
    mean_average_precision,
)


def test_average_precision_hand_computed():
    # detections TP, FP, TP with 2 ground truths:
    # recall .5 .5 1, precision 1 .5 .667
    r, p = [0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3]
    assert average_precision(r, p, "all") == pytest.approx(
        0.5 * 1.0 + 0.5 * 2 / 3
    )
    # 101-point: recall points 0..0.5 (51 of them) get 1, 0.51..1 (50) get 2/3
    assert average_precision(r, p, "101") == pytest.approx(
        (51 * 1.0 + 50 * 2 / 3) / 101
    )
    assert average_precision([1.0], [1.0], "all") == pytest.approx(1.0)
    # never reaching full recall: area stops at the highest recall
    assert average_precision([0.25, 0.5], [1.0, 1.0], "all") == pytest.approx(
        0.5
    )
    assert average_precision([], [], "all") == 0.0
    with pytest.raises(ValueError, match="non-decreasing"):
        average_precision([0.5, 0.2], [1, 1])
    with pytest.raises(ValueError, match="method"):
        average_precision([0.5], [1], "11")


def _b(*rows):
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)


def test_map_hand_computed():
    gt_boxes = [_b([0, 0, 10, 10], [20, 20, 30, 30]), _b([0, 0, 10, 10])]
    gt_labels = [torch.tensor([0, 1]), torch.tensor([0])]
    pred_boxes = [
        _b([0, 0, 10, 10], [0, 0, 10, 9], [20, 20, 30, 30]),
        _b([50, 50, 60, 60]),
    ]
    pred_scores = [torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0.95])]
    pred_labels = [torch.tensor([0, 0, 1]), torch.tensor([0])]
    m, aps = mean_average_precision(
        pred_boxes, pred_scores, pred_labels, gt_boxes, gt_labels
    )
    # class 0, by score: FP (image 1, 0.95), TP (0.9), duplicate FP (0.8);
    # 2 gts
    # recall 0, .5, .5; precision 0, .5, 1/3 -> AP = 0.5 * 0.5 = 0.25;
    # class 1: AP 1
    assert aps == {0: pytest.approx(0.25), 1: pytest.approx(1.0)}
    assert m == pytest.approx(0.625)


def test_perfect_empty_and_missing():
    gt = [_b([0, 0, 5, 5]), _b()]
    gl = [torch.tensor([2]), torch.tensor([], dtype=torch.long)]
    m, aps = mean_average_precision(
        gt,
        [torch.tensor([0.5]), torch.zeros(0)],
        [torch.tensor([2]), torch.zeros(0, dtype=torch.long)],
        gt,
        gl,
    )
    assert m == pytest.approx(1.0) and list(aps) == [2]
    # no detections at all -> AP 0; a false positive on an empty image lowers
    # precision
    m0, _ = mean_average_precision(
        [_b(), _b()],
        [torch.zeros(0)] * 2,
        [torch.zeros(0, dtype=torch.long)] * 2,
        gt,
        gl,
    )
    assert m0 == 0.0
    m1, _ = mean_average_precision(
        [_b([0, 0, 5, 5]), _b([1, 1, 4, 4])],
        [torch.tensor([0.5]), torch.tensor([0.9])],
        [torch.tensor([2]), torch.tensor([2])],
        gt,
        gl,
    )
    assert m1 == pytest.approx(0.5)


def test_voc_and_coco_matching_differ_as_documented():
    gt = _b([0, 0, 10, 10], [3, 0, 13, 10])
    pred = _b(
        [0, 0, 10, 10], [1, 0, 11, 10]
    )  # the 2nd: IoU 0.82 with gt 0 (claimed), 0.67 with gt 1
    assert match_detections(pred, gt, 0.5, "voc").tolist() == [True, False]
    assert match_detections(pred, gt, 0.5, "coco").tolist() == [True, True]


def test_bad_input():
    gt = [_b([0, 0, 5, 5])]
    gl = [torch.tensor([0])]
    with pytest.raises(ValueError, match="one per image"):
        mean_average_precision(
            [_b(), _b()], [torch.zeros(0)], [torch.zeros(0)], gt, gl
        )
    with pytest.raises(ValueError, match="same length"):
        mean_average_precision(
            gt, [torch.tensor([0.1, 0.2])], [torch.tensor([0])], gt, gl
        )
    with pytest.raises(ValueError, match="style"):
        mean_average_precision(
            gt, [torch.tensor([0.1])], gl, gt, gl, style="kitti"
        )
    with pytest.raises(ValueError, match=r"\(k, 4\)"):
        mean_average_precision(
            [torch.zeros(1, 3)], [torch.tensor([0.1])], gl, gt, gl
        )


def _random_case(seed, n_images=12, n_classes=3):
    g = torch.Generator().manual_seed(seed)
    gtb, gtl, pb, ps, pl = [], [], [], [], []
    for _ in range(n_images):
        m = int(torch.randint(0, 4, (1,), generator=g))
        xy = torch.rand(m, 2, generator=g) * 40
        wh = 5 + torch.rand(m, 2, generator=g) * 15
        boxes = torch.cat([xy, xy + wh], 1)
        labels = torch.randint(0, n_classes, (m,), generator=g)
        # predictions: jittered copies (some duplicates, some wrong class) plus
        # random boxes
        k = int(torch.randint(0, 5, (1,), generator=g))
        rxy = torch.rand(k, 2, generator=g) * 40
        rand = torch.cat(
            [rxy, rxy + 5 + torch.rand(k, 2, generator=g) * 15], 1
        )
        jit = boxes.repeat(2, 1) + torch.randn(2 * m, 4, generator=g) * 2.5
        jit[:, 2:] = torch.maximum(jit[:, 2:], jit[:, :2] + 1)
        lab = torch.cat(
            [labels.repeat(2), torch.randint(0, n_classes, (k,), generator=g)]
        )
        flip = torch.rand(len(lab), generator=g) < 0.15
        lab[flip] = torch.randint(
            0, n_classes, (int(flip.sum()),), generator=g
        )
        gtb.append(boxes)
        gtl.append(labels)
        pb.append(torch.cat([jit, rand]))
        pl.append(lab)
        ps.append(torch.rand(len(lab), generator=g))
    return pb, ps, pl, gtb, gtl


def _coco_ap50(pb, ps, pl, gtb, gtl, n_classes=3):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, dets = [], [], []
    for i in range(len(gtb)):
        images.append({"id": i, "width": 64, "height": 64})
        for b, c in zip(gtb[i].tolist(), gtl[i].tolist()):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": c + 1,
                    "bbox": [b[0], b[1], w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for b, s, c in zip(pb[i].tolist(), ps[i].tolist(), pl[i].tolist()):
            dets.append(
                {
                    "image_id": i,
                    "category_id": c + 1,
                    "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    "score": s,
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": images,
            "annotations": anns,
            "categories": [
                {"id": c + 1, "name": str(c)} for c in range(n_classes)
            ],
        }
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"][
        0, :, :, 0, -1
    ]  # (recall points, classes) at area "all", maxDets 100
    per_class = {
        c: float(prec[:, c].mean())
        for c in range(n_classes)
        if (prec[:, c] > -1).all()
    }
    return float(np.mean(list(per_class.values()))), per_class


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_pycocotools(seed):
    pytest.importorskip("pycocotools")
    case = _random_case(seed)
    ref, ref_aps = _coco_ap50(*case)
    ours, aps = mean_average_precision(*case, style="coco")
    assert set(aps) == set(ref_aps)
    for c in aps:
        assert aps[c] == pytest.approx(ref_aps[c], abs=1e-9)
    assert ours == pytest.approx(ref, abs=1e-9)
    voc, _ = mean_average_precision(*case, style="voc")
    assert (
        abs(voc - ours) < 0.1
    )  # same ranking, slightly different interpolation / matching
