"""The input side every detector shares: the image check, a small CNN
backbone and the 2-D sinusoidal positions DETR adds to its feature cells."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..._validate import check_images as _check_images
from ...layers import sinusoidal_encoding

__all__ = [
    "BACKBONE_CHANNELS",
    "check_images",
    "ConvBackbone",
    "position_encoding_2d",
]

# channels of the backbone's stages; three stages give output stride 8
BACKBONE_CHANNELS = (32, 64, 64)


def check_images(images, image_size: int | None = None) -> None:
    """Raise unless ``images`` is a float ``(B, 3, H, W)`` batch (of
    ``image_size`` pixels if given)."""
    _check_images("images", images, channels=3, size=image_size, short=True)


class ConvBackbone(nn.Module):
    """``len(channels)`` stages of (3x3 conv, stride 2, BatchNorm, ReLU) + a
    3x3 conv each: output stride ``2 ** len(channels)``.

    It reads the images as the data pipeline prepares them
    (:attr:`attnlib.data.vision.DetectionSet.inputs`: background 0)."""

    def __init__(self, channels: tuple[int, ...] = BACKBONE_CHANNELS):
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
        return self.net(images)


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
