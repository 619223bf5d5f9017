"""Attention inside convolutional networks: channel, spatial and non-local
attention.

All modules take feature maps ``(batch, channels, height, width)`` and return a
tensor of the same shape, so they can be dropped between two convolutions.

* :class:`SqueezeExcitation` (Hu et al., 2018): *channel attention*. Each
  channel is summarised by its global average ("squeeze"), a small MLP maps the
  summaries to one gate in (0, 1) per channel ("excitation"), and the feature
  map is rescaled channel by channel.
* :class:`SpatialAttention` (the spatial half of CBAM, Woo et al., 2018): one
  gate in (0, 1) per *position*, computed by a convolution over the
  channel-wise mean and maximum.
* :class:`NonLocalBlock` (Wang et al., 2018): *self-attention over positions*.
  Every position is a query, a key and a value (1x1 convolutions), attends to
  every other position, and the result is added back through a residual
  connection whose projection starts at zero, so a freshly inserted block is
  the identity.

Every ``forward`` takes ``need_weights=True`` to also return what the module
attended with: ``(batch, channels)`` gates, ``(batch, 1, H, W)`` maps or
``(batch, H*W, H*W)`` attention weights.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ._validate import check_images, check_positive_int
from .functional import attention

__all__ = [
    "check_feature_map",
    "SqueezeExcitation",
    "SpatialAttention",
    "NonLocalBlock",
]


def _positive_int(name: str, value) -> None:
    check_positive_int(name, value)


def check_feature_map(name: str, x, channels: int | None = None) -> None:
    """Raise TypeError/ValueError unless ``x`` is a floating
    ``(batch, channels, H, W)`` tensor with at least one pixel.

    With ``channels`` given, the second axis must have exactly that size.
    """
    check_images(name, x, channels=channels, nonempty=True)


class SqueezeExcitation(nn.Module):
    """Channel attention: ``x * sigmoid(W_2 relu(W_1 mean_{h,w}(x)))``, one
    gate per channel.

    ``reduction`` sets the width of the hidden layer, ``max(channels //
    reduction, min_hidden)``. ``forward(x, need_weights=True)`` returns
    ``(out, gates)`` with gates ``(batch, channels)`` in (0, 1).
    """

    def __init__(
        self, channels: int, reduction: int = 4, *, min_hidden: int = 4
    ):
        super().__init__()
        _positive_int("channels", channels)
        _positive_int("reduction", reduction)
        _positive_int("min_hidden", min_hidden)
        hidden = max(channels // reduction, min_hidden)
        self.channels, self.hidden = channels, hidden
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """The per-channel gates ``(batch, channels)`` for feature maps
        ``x``."""
        check_feature_map("x", x, self.channels)
        squeezed = x.mean(dim=(2, 3))  # (b, C): one summary per channel
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(squeezed))))

    def forward(self, x: torch.Tensor, *, need_weights: bool = False):
        g = self.gates(x)
        out = x * g[:, :, None, None]  # rescale every channel
        return (out, g) if need_weights else out


class SpatialAttention(nn.Module):
    """CBAM's spatial attention: ``x * sigmoid(conv([mean_c(x), max_c(x)]))``,
    one gate per position.

    ``forward(x, need_weights=True)`` returns ``(out, gates)`` with gates
    ``(batch, 1, H, W)`` in (0, 1). ``channels`` (optional) fixes the
    expected channel count for the input check.
    """

    def __init__(self, kernel_size: int = 7, channels: int | None = None):
        super().__init__()
        _positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(
                "kernel_size must be odd (so the map keeps its size), got "
                f"{kernel_size}"
            )
        if channels is not None:
            _positive_int("channels", channels)
        self.channels = channels
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """The per-position gates ``(batch, 1, H, W)`` for feature maps
        ``x``."""
        check_feature_map("x", x, self.channels)
        pooled = torch.cat(
            [x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1
        )  # (b, 2, H, W)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, x: torch.Tensor, *, need_weights: bool = False):
        g = self.gates(x)
        out = x * g
        return (out, g) if need_weights else out


class NonLocalBlock(nn.Module):
    """Self-attention over the positions of a feature map (embedded-Gaussian
    non-local block).

    With ``N = H * W`` positions, 1x1 convolutions give queries ``theta(x)``,
    keys ``phi(x)`` and values ``g(x)`` of ``inner_channels`` features each;
    ``y = softmax(theta phi^T / sqrt(inner)) g`` is mapped back to ``channels``
    by ``out`` (a 1x1 convolution) and added to the input: ``z = x + out(y)``.
    With ``zero_init=True`` (default) ``out`` starts at zero, so the block
    starts as the identity and training decides how much to use it.

    ``forward(x, need_weights=True)`` returns ``(z, weights)`` with weights
    ``(batch, N, N)``; row ``i`` is where position ``i`` (row-major,
    ``i = r * W + c``) looks.
    """

    def __init__(
        self,
        channels: int,
        inner_channels: int | None = None,
        *,
        zero_init: bool = True,
    ):
        super().__init__()
        _positive_int("channels", channels)
        inner = (
            inner_channels
            if inner_channels is not None
            else max(channels // 2, 1)
        )
        _positive_int("inner_channels", inner)
        self.channels, self.inner_channels = channels, inner
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner, channels, 1)
        if zero_init:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, *, need_weights: bool = False):
        check_feature_map("x", x, self.channels)
        b, _, h, w = x.shape
        # (b, C', H, W) -> (b, N, C')
        flat = lambda t: t.flatten(2).transpose(1, 2)
        y, weights = attention(
            flat(self.theta(x)), flat(self.phi(x)), flat(self.g(x))
        )  # (b, N, C'), (b, N, N)
        y = y.transpose(1, 2).reshape(b, self.inner_channels, h, w)
        z = x + self.out(y)
        return (z, weights) if need_weights else z
