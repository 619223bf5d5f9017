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

from . import functional as _functional
from . import layers as _layers
from .device import evaluating, get_device, seed_everything
from .functional import *  # noqa: F403 (the names of functional.__all__)
from .layers import *  # noqa: F403 (the names of layers.__all__)
from .train import History, cosine_schedule, fit

__version__ = "0.1.0"

__all__ = [
    "get_device",
    "seed_everything",
    "evaluating",
    *_functional.__all__,
    *_layers.__all__,
    "History",
    "fit",
    "cosine_schedule",
]
