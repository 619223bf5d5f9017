"""attnlib: the small, tested attention library used by the course book.

Layers of the package, from the bottom up: a module imports only from its
own row and the rows before it::

    _validate, device, progress          import no other attnlib module
    functional, boxes
    layers, vision_layers
    efficient                            attention kernels, no model
    models         contract (the shared config/forward/loss/decoding
                   rules); bert, detection, recsys, timeseries and vit
                   build on the blocks of transformer; seq2seq does not
    pretrained, train, viz, metrics
    bench, bench_kernels                 benchmarks of the rows above

``data``, ``tokenizers`` and ``checks`` stand alone (inside ``data``,
``text`` imports ``packages``); ``pretrained`` also imports
``data.packages`` and ``tokenizers``. A model owns its attention kernel and
its KV cache (``model(idx, kernel=tiled_attention)``,
``CausalLM.generate(..., use_cache=True)``); ``efficient`` imports no model.
"""

from .device import evaluating, get_device, seed_everything
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
    "evaluating",
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
