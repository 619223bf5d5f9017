"""A synthetic object-detection data set, generated offline from
``skimage.draw.random_shapes``.

Why synthetic? The book must run offline, in seconds, on a laptop CPU, and its
metrics must be checkable. Real detection sets (PASCAL VOC, COCO) are gigabytes
to download and hours to train on. Drawing the images ourselves gives

* **offline and fast**: thousands of small images in well under a second;
* **exact labels**: every box is the tight box of the drawn pixels, every class
  is known, so a wrong mAP is the model's fault, never the annotator's;
* **control**: image size, number of objects and shape classes are arguments,
  and a seed makes every run identical.

The price is realism: flat-coloured shapes on a white background are far
easier than photographs. The *methods* (RoI pooling, relation modules, set
prediction with Hungarian matching) are the same.

Boxes are ``(x0, y0, x1, y1)`` in pixels (``x`` = column, ``y`` = row),
half-open: a box ``(2, 3, 5, 7)`` covers columns 2, 3, 4 and rows 3 to 6, so
its width is ``x1 - x0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "SHAPE_CLASSES",
    "DetectionSet",
    "make_shapes_detection",
    "check_detection_targets",
]

SHAPE_CLASSES = ("rectangle", "circle", "triangle")


@dataclass
class DetectionSet:
    """Images with their boxes and labels.

    ``images``: float ``(N, 3, H, W)`` in ``[0, 1]`` (white background);
    ``boxes``: list of ``N`` float tensors ``(k_i, 4)``, pixel ``xyxy``;
    ``labels``: list of ``N`` int64 tensors ``(k_i,)`` indexing ``classes``.
    """

    images: torch.Tensor
    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, idx):
        """An int gives ``(image, boxes, labels)``; a slice or index list gives
        a smaller set."""
        if isinstance(idx, int):
            return self.images[idx], self.boxes[idx], self.labels[idx]
        if isinstance(idx, slice):
            idx = list(range(len(self)))[idx]
        idx = [int(i) for i in idx]
        return DetectionSet(
            self.images[idx],
            [self.boxes[i] for i in idx],
            [self.labels[i] for i in idx],
            self.classes,
        )

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @property
    def inputs(self) -> torch.Tensor:
        """The images as the detectors read them: inverted, ``1 - images``,
        so that the empty white background is 0 and only the drawn shapes
        excite the convolutions (``images`` stays as drawn, for plots)."""
        return 1.0 - self.images

    def num_objects(self) -> torch.Tensor:
        return torch.tensor([len(b) for b in self.boxes])


def make_shapes_detection(
    n_images: int,
    *,
    image_size: int = 48,
    min_objects: int = 1,
    max_objects: int = 4,
    min_size: int = 10,
    max_size: int = 20,
    classes: tuple[str, ...] = SHAPE_CLASSES,
    seed: int = 0,
) -> DetectionSet:
    """Draw ``n_images`` RGB images of non-overlapping random shapes with exact
    boxes.

    Each image holds between ``min_objects`` and ``max_objects`` shapes (fewer
    only when ``random_shapes`` cannot fit them), each of a class in
    ``classes`` (a subset of ``"rectangle"``, ``"circle"``, ``"triangle"``,
    ``"ellipse"``) and ``min_size``-``max_size`` pixels across. Shapes that
    ``random_shapes`` would cut at the image border are redrawn, so every box
    is the tight box of a whole shape. Same arguments, same set.
    """
    from skimage.draw import random_shapes

    if not isinstance(n_images, int) or n_images < 0:
        raise ValueError(
            f"n_images must be a non-negative int, got {n_images!r}"
        )
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")
    if not 0 <= min_objects <= max_objects or max_objects < 1:
        raise ValueError(
            f"need 0 <= min_objects <= max_objects and max_objects >= 1, "
            f"got min_objects={min_objects}, max_objects={max_objects}"
        )
    if not 2 <= min_size <= max_size <= image_size:
        raise ValueError(
            f"need 2 <= min_size <= max_size <= image_size={image_size}, "
            f"got min_size={min_size}, max_size={max_size}"
        )
    allowed = ("rectangle", "circle", "triangle", "ellipse")
    if (
        len(classes) == 0
        or len(set(classes)) != len(classes)
        or any(c not in allowed for c in classes)
    ):
        raise ValueError(
            f"classes must be distinct names from {allowed}, got {classes!r}"
        )

    rng = np.random.default_rng(seed)
    images = np.empty((n_images, image_size, image_size, 3), dtype=np.uint8)
    all_boxes, all_labels = [], []
    for i in range(n_images):
        while True:
            want = (
                int(rng.integers(max(min_objects, 1), max_objects + 1))
                if max_objects
                else 0
            )
            if min_objects == 0 and rng.random() < 1.0 / (max_objects + 1):
                want = 0  # an empty image is a valid detection image
            canvas = np.full((image_size, image_size, 3), 255, dtype=np.uint8)
            boxes, labels = [], []
            for _ in range(want):
                # one call per object so that the class comes from *our* list;
                # allow_overlap=False cannot see earlier calls, so we redraw a
                # shape whose box overlaps an earlier one
                name = classes[int(rng.integers(len(classes)))]
                for _trial in range(20):
                    img, lab = random_shapes(
                        (image_size, image_size),
                        max_shapes=1,
                        min_shapes=1,
                        min_size=min_size,
                        max_size=max_size,
                        shape=name,
                        intensity_range=((0, 200),),
                        channel_axis=-1,
                        rng=int(rng.integers(2**31)),
                    )
                    if not lab:
                        continue
                    (r0, r1), (c0, c1) = lab[0][1]
                    if r0 < 0 or c0 < 0 or r1 > image_size or c1 > image_size:
                        continue  # a shape cut by the image border: redraw it
                    box = [float(c0), float(r0), float(c1), float(r1)]
                    if all(
                        box[2] <= b[0]
                        or b[2] <= box[0]
                        or box[3] <= b[1]
                        or b[3] <= box[1]
                        for b in boxes
                    ):
                        break  # no overlap with earlier boxes: accept
                else:
                    continue  # no room found: this image gets fewer objects
                mask = (img != 255).any(-1)
                canvas[mask] = img[mask]
                boxes.append(box)
                labels.append(classes.index(name))
            if len(boxes) >= min_objects:
                break
        images[i] = canvas
        all_boxes.append(
            torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        )
        all_labels.append(torch.tensor(labels, dtype=torch.int64))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    return DetectionSet(x.contiguous(), all_boxes, all_labels, tuple(classes))


def check_detection_targets(
    images: torch.Tensor,
    boxes,
    labels=None,
    *,
    num_classes: int | None = None,
    clip: bool = False,
):
    """Check a batch of detection inputs; return ``boxes`` (clipped to the
    image if ``clip``).

    ``images`` must be float ``(B, 3, H, W)``; ``boxes`` a list of ``B``
    tensors ``(k_i, 4)`` in pixel ``xyxy`` with ``x0 < x1`` and ``y0 < y1``
    (``k_i = 0`` is fine: an image with no objects); ``labels`` a list of ``B``
    int64 tensors ``(k_i,)`` in ``[0, num_classes)``. Boxes that reach outside
    the image raise ValueError unless ``clip=True``, which cuts them to the
    image (and still rejects a box left with no area).
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            f"images must be a torch.Tensor, got {type(images).__name__}"
        )
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(
            "images must be (batch, 3, H, W) RGB, got shape "
            f"{tuple(images.shape)}"
        )
    if not torch.is_floating_point(images):
        raise TypeError(
            "images must be a float tensor in [0, 1], got dtype "
            f"{images.dtype}"
        )
    b, _, h, w = images.shape
    if not isinstance(boxes, (list, tuple)) or len(boxes) != b:
        raise ValueError(
            f"boxes must be a list of {b} tensors (one per image), got "
            f"{type(boxes).__name__} of length "
            f"{len(boxes) if hasattr(boxes, '__len__') else '?'}"
        )
    if labels is not None and (
        not isinstance(labels, (list, tuple)) or len(labels) != b
    ):
        raise ValueError(
            f"labels must be a list of {b} tensors (one per image)"
        )
    out = []
    for i, bx in enumerate(boxes):
        if not isinstance(bx, torch.Tensor):
            raise TypeError(
                f"boxes[{i}] must be a torch.Tensor, got {type(bx).__name__}"
            )
        bx = bx.reshape(-1, 4) if bx.numel() == 0 else bx
        if bx.dim() != 2 or bx.shape[1] != 4:
            raise ValueError(
                f"boxes[{i}] must be (k, 4) xyxy, got shape {tuple(bx.shape)}"
            )
        bx = bx.float()
        if clip:
            bx = torch.stack(
                [
                    bx[:, 0].clamp(0, w),
                    bx[:, 1].clamp(0, h),
                    bx[:, 2].clamp(0, w),
                    bx[:, 3].clamp(0, h),
                ],
                dim=1,
            )
        elif len(bx) and (
            (bx[:, :2] < 0).any()
            or (bx[:, 2] > w).any()
            or (bx[:, 3] > h).any()
        ):
            raise ValueError(
                f"boxes[{i}] reaches outside the {w}x{h} image: "
                f"{bx.tolist()}; pass clip=True to cut boxes to the image"
            )
        if len(bx) and ((bx[:, 2] <= bx[:, 0]) | (bx[:, 3] <= bx[:, 1])).any():
            raise ValueError(
                f"boxes[{i}] has a box with x1 <= x0 or y1 <= y0 (no area): "
                f"{bx.tolist()}"
            )
        if labels is not None:
            lb = labels[i]
            if not isinstance(lb, torch.Tensor) or lb.dtype not in (
                torch.int64,
                torch.int32,
            ):
                raise TypeError(f"labels[{i}] must be an int64 tensor")
            if lb.shape != (len(bx),):
                raise ValueError(
                    f"labels[{i}] must be ({len(bx)},) to match boxes[{i}], "
                    f"got {tuple(lb.shape)}"
                )
            if (
                num_classes is not None
                and len(lb)
                and (lb.min() < 0 or lb.max() >= num_classes)
            ):
                raise ValueError(
                    f"labels[{i}] must lie in [0, {num_classes}), got "
                    f"{lb.tolist()}"
                )
        out.append(bx)
    return out
