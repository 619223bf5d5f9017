"""A small Transformer forecaster for univariate series (one step ahead).

The model reads a window of the last ``max_len`` values and predicts the next
one. Two details matter more than size on real series:

* *Instance normalisation*: each window is shifted by its last value and
  divided by its own spread, and the prediction is mapped back. The network
  then learns the *shape* of the next change, so a level or trend never seen in
  training (CO2 keeps rising) is no problem.
* *Read-out from the last position*: the representation of the most recent
  step, after attending over all past steps, predicts the change. Its attention
  row is the "which past steps mattered" picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .._validate import (
    check_tensor,
    shape_str,
)
from ..layers import LearnedPositionalEmbedding
from .contract import ModelOutput, check_config
from .transformer import EncoderBlock

__all__ = ["ForecasterConfig", "TransformerForecaster"]


@dataclass
class ForecasterConfig:
    """Sizes of a :class:`TransformerForecaster`. ``max_len`` is its context
    window: the model reads exactly the last ``max_len`` values."""

    max_len: int = 36
    d_model: int = 32
    num_heads: int = 2
    num_layers: int = 2
    d_ff: int | None = None
    dropout: float = 0.0
    eps: float = (
        1e-3  # floor of the window scale, relative to the series' own scale
    )
    scale: float = 1.0  # the series' typical step, e.g. mean |y_t - y_t-1|

    def __post_init__(self):
        check_config(self)


class TransformerForecaster(nn.Module):
    """Encoder-only Transformer over the steps of a window; predicts the next
    value.

    ``forward(x)`` takes ``(batch, max_len)`` raw values and returns
    ``(batch,)`` predictions in the same units; with ``need_weights=True`` it
    also returns the list of per-layer attention weights
    ``(batch, heads, max_len, max_len)``.
    """

    def __init__(self, cfg: ForecasterConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer(
            "scale", torch.tensor(float(cfg.scale))
        )  # typical size of a change
        self.inp = nn.Linear(
            2, cfg.d_model
        )  # (normalised value, first difference)
        self.pos = LearnedPositionalEmbedding(cfg.max_len, cfg.d_model)
        self.blocks = nn.ModuleList(
            EncoderBlock.from_config(cfg) for _ in range(cfg.num_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, 1)

    def _normalise(self, x: torch.Tensor):
        last = x[:, -1:]
        spread = (
            (x - last)
            .abs()
            .mean(dim=1, keepdim=True)
            .clamp_min(self.cfg.eps * self.scale)
        )
        z = (x - last) / spread
        dz = torch.diff(z, dim=1, prepend=z[:, :1])
        return torch.stack([z, dz], dim=-1), last.squeeze(1), spread.squeeze(1)

    def forward(self, x: torch.Tensor, *, need_weights: bool = False):
        check_tensor("x", x, ndim=2, floating=True)
        if x.shape[1] != self.cfg.max_len:
            raise ValueError(
                f"x must be (batch, max_len={self.cfg.max_len}), got shape "
                f"{shape_str(x)}"
            )
        if not torch.isfinite(x).all():
            raise ValueError(
                "x contains missing (NaN) or infinite values; fill them "
                "before forecasting"
            )
        feats, last, spread = self._normalise(x)
        h = self.inp(feats)
        h = self.pos(h)
        weights = []
        for block in self.blocks:
            h, w = block(h, need_weights=need_weights)
            weights.append(w)
        delta = self.head(self.norm(h[:, -1])).squeeze(-1)
        pred = last + spread * delta
        return ModelOutput(pred, weights) if need_weights else pred

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean absolute error in units of the series' typical change (so that
        every series trains with the same learning rate)."""
        check_tensor("y", y, ndim=1, floating=True)
        if y.shape[0] != x.shape[0]:
            raise ValueError(
                f"y must be (batch,) = ({x.shape[0]},), got shape "
                f"{shape_str(y)}"
            )
        return ((self(x) - y).abs() / self.scale).mean()
