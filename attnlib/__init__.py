"""attnlib: the small, tested attention library used by the course book.

Layers of the package (dependencies point one way)::

    device, functional  <-  layers  <-  models  <-  train, viz
    checks, bench, data, metrics stand alone
"""

from .device import get_device, seed_everything
from .functional import (
    additive_scores,
    attention,
    causal_mask,
    combine_masks,
    dot_scores,
    key_padding_to_attn_mask,
    masked_softmax,
    padding_mask,
    scaled_dot_scores,
)
from .layers import (
    AdditiveAttention,
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    sinusoidal_encoding,
)
from .train import History, cosine_schedule, fit

__version__ = "0.1.0"

__all__ = [
    "get_device",
    "seed_everything",
    "masked_softmax",
    "dot_scores",
    "scaled_dot_scores",
    "additive_scores",
    "attention",
    "causal_mask",
    "padding_mask",
    "key_padding_to_attn_mask",
    "combine_masks",
    "MultiHeadAttention",
    "AdditiveAttention",
    "sinusoidal_encoding",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEmbedding",
    "RotaryEmbedding",
    "History",
    "fit",
    "cosine_schedule",
]
