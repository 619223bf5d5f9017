"""The contract every attnlib model follows (attnlib.models.contract): one
config dataclass per family with shared field names, one forward/weights
convention, a loss method, one decoding signature."""

import dataclasses
import inspect

import pytest
import torch

from attnlib.models import ModelOutput, detection, recsys
from attnlib.models.bert import BertConfig, BertForMaskedLM, BertModel
from attnlib.models.seq2seq import Seq2Seq, Seq2SeqConfig
from attnlib.models.timeseries import ForecasterConfig, TransformerForecaster
from attnlib.models.transformer import (
    CausalLM,
    EncoderDecoder,
    TransformerConfig,
)
from attnlib.models.vit import VisionTransformer, ViTConfig

V = 11  # vocabulary / items


def ids(*shape, low=3):
    return torch.randint(
        low, V, shape, generator=torch.Generator().manual_seed(0)
    )


def images(c, s):
    return torch.rand(2, c, s, s, generator=torch.Generator().manual_seed(0))


# family: (model class, config, inputs to forward, extra loss arguments)
FAMILIES = {
    "CausalLM": (
        CausalLM,
        TransformerConfig(V, d_model=16, num_heads=2),
        (ids(2, 5),),
        (ids(2, 5),),
    ),
    "EncoderDecoder": (
        EncoderDecoder,
        TransformerConfig(
            V, d_model=16, num_heads=2, pad_id=0, bos_id=1, eos_id=2
        ),
        (ids(2, 5), ids(2, 4)),
        (ids(2, 4),),
    ),
    "Seq2Seq": (
        Seq2Seq,
        Seq2SeqConfig(V, emb_dim=8, d_model=16, attn_dim=8),
        (ids(2, 5), ids(2, 4)),
        (ids(2, 4),),
    ),
    "BertModel": (
        BertModel,
        BertConfig(V, d_model=16, num_heads=2),
        (ids(2, 5),),
        None,
    ),
    "BertForMaskedLM": (
        BertForMaskedLM,
        BertConfig(V, d_model=16, num_heads=2),
        (ids(2, 5),),
        (ids(2, 5),),
    ),
    "VisionTransformer": (
        VisionTransformer,
        ViTConfig(d_model=16, num_heads=2),
        (images(1, 8),),
        (torch.tensor([1, 2]),),
    ),
    "TransformerForecaster": (
        TransformerForecaster,
        ForecasterConfig(max_len=6, d_model=16, num_heads=2),
        (torch.randn(2, 6),),
        (torch.randn(2),),
    ),
    "SASRec": (
        recsys.SASRec,
        recsys.SASRecConfig(V - 1, max_len=5, d_model=16),
        (ids(2, 5, low=1),),
        (ids(2, 5, low=1),),
    ),
    "GRURec": (
        recsys.GRURec,
        recsys.GRURecConfig(V - 1, d_model=16),
        (ids(2, 5, low=1),),
        (ids(2, 5, low=1),),
    ),
    "TargetAttentionRecommender": (
        recsys.TargetAttentionRecommender,
        recsys.TargetAttentionConfig(V - 1, d_model=8, d_hidden=16),
        (ids(2, 5, low=1), torch.tensor([3, 4])),
        (torch.tensor([1.0, 0.0]),),
    ),
    "DETR": (
        detection.DETR,
        detection.DETRConfig(
            image_size=16,
            num_queries=3,
            d_model=16,
            num_heads=2,
            backbone_channels=(8, 8),
        ),
        (images(3, 16),),
        ([torch.tensor([[1.0, 1, 9, 9]])] * 2, [torch.tensor([0])] * 2),
    ),
    "DenseDetector": (
        detection.DenseDetector,
        detection.DenseDetectorConfig(image_size=16, backbone_channels=(8, 8)),
        (images(3, 16),),
        ([torch.tensor([[1.0, 1, 9, 9]])] * 2, [torch.tensor([0])] * 2),
    ),
    "TwoStageDetector": (
        detection.TwoStageDetector,
        detection.TwoStageConfig(
            8, image_size=16, stride=4, pool=2, d_model=16, num_heads=2
        ),
        (
            torch.rand(2, 8, 4, 4),
            torch.tensor([[[0.0, 0, 8, 8], [4, 4, 12, 12]]] * 2),
        ),
        (
            torch.tensor([[0, 3]] * 2),
            torch.tensor([[[0.0, 0, 8, 8], [4, 4, 12, 12]]] * 2),
        ),
    ),
}

# names the contract retired, with the shared name that replaced them
RETIRED = {
    "hidden": "d_model",
    "emb_size": "d_model",
    "context": "max_len",
    "max_src_len": "max_len",
    "max_tgt_len": "max_len",
    "num_encoder_layers": "num_layers",
    "num_relation_layers": "num_layers",
    "n_layers": "num_layers",
    "n_heads": "num_heads",
    "channels": "backbone_channels",
}


@pytest.mark.parametrize("family", FAMILIES)
def test_config_is_a_dataclass_with_shared_names(family):
    cls, cfg, _, _ = FAMILIES[family]
    assert dataclasses.is_dataclass(cfg)
    params = list(inspect.signature(cls.__init__).parameters)
    assert params == ["self", "cfg"], f"{family} takes its config only"
    fields = {f.name for f in dataclasses.fields(cfg)}
    for old, new in RETIRED.items():
        assert old not in fields, f"{family}: {old!r} is called {new!r}"
    if "d_ff" in fields:
        default = type(cfg)(
            **{
                f.name: getattr(cfg, f.name)
                for f in dataclasses.fields(cfg)
                if f.name != "d_ff"
            }
        )
        assert default.d_ff == 4 * default.d_model  # one default meaning


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_and_weights_convention(family):
    cls, cfg, inputs, _ = FAMILIES[family]
    torch.manual_seed(0)
    model = cls(cfg).eval()
    with torch.no_grad():
        out = model(*inputs)
        assert isinstance(out, (torch.Tensor, dict))
        if "need_weights" not in inspect.signature(model.forward).parameters:
            return  # no attention (GRURec, DenseDetector)
        res = model(*inputs, need_weights=True)
    assert isinstance(res, ModelOutput)
    first = out if isinstance(out, torch.Tensor) else out["logits"]
    again = (
        res.output if isinstance(out, torch.Tensor) else res.output["logits"]
    )
    torch.testing.assert_close(again, first)  # same output either way
    kinds = res.weights if isinstance(res.weights, dict) else {"": res.weights}
    for layers in kinds.values():
        assert isinstance(layers, list) and layers
        for w in layers:
            assert w.dim() == 4  # (batch, heads, queries, keys)
            assert w.shape[0] == 2
            torch.testing.assert_close(
                w.sum(-1), torch.ones(w.shape[:-1]), atol=1e-5, rtol=0
            )


@pytest.mark.parametrize("family", [f for f in FAMILIES if FAMILIES[f][3]])
def test_loss_method_takes_inputs_then_aligned_targets(family):
    cls, cfg, inputs, targets = FAMILIES[family]
    torch.manual_seed(0)
    model = cls(cfg)
    loss = model.loss(*inputs, *targets)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()


def test_one_decoding_signature():
    expected = ["max_new_tokens", "temperature", "top_k", "generator"]
    for cls in (CausalLM, EncoderDecoder, Seq2Seq):
        params = list(inspect.signature(cls.generate).parameters)[2:6]
        assert params == expected, (cls.__name__, params)
    for family in ("EncoderDecoder", "Seq2Seq"):
        cls, cfg, (src, _), _ = FAMILIES[family]
        out = cls(cfg).generate(src, 3)
        assert out.shape[0] == 2 and 1 < out.shape[1] <= 4
        assert (out[:, 0] == cfg.bos_id).all()
