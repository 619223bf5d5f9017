"""attnlib.models.bert: shapes, masks, bidirectionality, MLM corruption, heads,
bad input."""

import pytest
import torch
from torch.testing import assert_close

from attnlib.models.bert import (
    BertClassifier,
    BertConfig,
    BertForMaskedLM,
    BertModel,
    mask_tokens,
    mean_pool,
)
from attnlib.models.transformer import EncoderBlock


def _tiny(**kw):
    cfg = BertConfig(
        vocab_size=50,
        d_model=32,
        num_heads=4,
        num_layers=2,
        max_len=16,
        dropout=0.0,
        **kw,
    )
    return BertModel(cfg).eval()


def test_config_defaults_and_checks():
    cfg = BertConfig(vocab_size=10, d_model=32, num_heads=4)
    assert cfg.d_ff == 128 and cfg.layer_norm_eps == 1e-12
    with pytest.raises(ValueError, match="num_heads=5 must divide d_model=32"):
        BertConfig(vocab_size=10, d_model=32, num_heads=5)
    with pytest.raises(ValueError, match="vocab_size"):
        BertConfig(vocab_size=0)
    with pytest.raises(ValueError, match="pad_id"):
        BertConfig(vocab_size=10, pad_id=10)


def test_from_hf_config():
    hf = {
        "vocab_size": 30,
        "hidden_size": 24,
        "num_attention_heads": 3,
        "num_hidden_layers": 2,
        "intermediate_size": 40,
        "max_position_embeddings": 20,
        "layer_norm_eps": 1e-12,
        "hidden_act": "gelu",
    }
    cfg = BertConfig.from_hf(hf)
    assert (
        cfg.d_model,
        cfg.num_heads,
        cfg.num_layers,
        cfg.d_ff,
        cfg.max_len,
        cfg.pooler,
    ) == (24, 3, 2, 40, 20, True)
    with pytest.raises(ValueError, match="hidden_act"):
        BertConfig.from_hf({**hf, "hidden_act": "gelu_new"})
    with pytest.raises(ValueError, match="lacks the keys"):
        BertConfig.from_hf({"vocab_size": 3})


def test_model_reuses_the_post_norm_encoder_block():
    model = _tiny()
    assert all(isinstance(b, EncoderBlock) for b in model.layers)
    assert all(not b.norm_first for b in model.layers)
    assert (
        isinstance(model.layers[0].ff.act, torch.nn.GELU)
        and model.layers[0].ff.act.approximate == "none"
    )


def test_shapes_and_weights():
    model = _tiny()
    ids = torch.randint(0, 50, (3, 7))
    mask = torch.arange(7) < torch.tensor([7, 4, 1])[:, None]
    h = model(ids, mask)
    assert h.shape == (3, 7, 32)
    h2, weights = model(ids, mask, need_weights=True)
    assert_close(h2, h, atol=1e-5, rtol=1e-4)  # explicit path == fused path
    assert len(weights) == 2 and weights[0].shape == (3, 4, 7, 7)
    assert_close(weights[1].sum(-1), torch.ones(3, 4, 7))
    assert (weights[0][1, :, :, 4:] == 0).all()  # padded keys get no weight


def test_bidirectional_versus_causal():
    model = _tiny()
    ids = torch.randint(1, 50, (1, 8))
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] % 49) + 1  # change only the last token
    with torch.no_grad():
        bi = (model(ids) - model(changed))[0, 0].abs().max()
        ca = (
            (model(ids, is_causal=True) - model(changed, is_causal=True))[
                0, :-1
            ]
            .abs()
            .max()
        )
    assert bi > 1e-3  # the first position sees the future
    assert ca == 0  # with a causal mask no earlier position does


def test_padding_does_not_change_real_positions():
    model = _tiny()
    ids = torch.randint(1, 50, (1, 5))
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 3])
    with torch.no_grad():
        assert_close(
            model(padded, mask)[:, :5], model(ids), atol=1e-5, rtol=1e-4
        )
        assert_close(
            model.sentence_embedding(padded, mask),
            model.sentence_embedding(ids),
            atol=1e-5,
            rtol=1e-4,
        )
        # a 0/1 integer mask (Hugging Face style) means the same
        assert_close(model(padded, mask.long()), model(padded, mask))


def test_mean_pool_by_hand():
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    m = torch.tensor([[True, True, False]])
    assert_close(mean_pool(h, m), torch.tensor([[2.0, 3.0]]))
    assert_close(mean_pool(h), torch.tensor([[104 / 3, 106 / 3]]))
    with pytest.raises(ValueError, match="key_padding_mask must be bool"):
        mean_pool(h, m.long())


def test_sentence_embedding_unit_norm():
    model = _tiny()
    e = model.sentence_embedding(torch.randint(0, 50, (4, 6)))
    assert_close(e.norm(dim=-1), torch.ones(4))


def test_mask_tokens_80_10_10():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 100, (400, 250), generator=g)
    protect = torch.zeros_like(ids, dtype=torch.bool)
    protect[:, 0] = True
    inputs, labels = mask_tokens(
        ids, mask_id=1, vocab_size=100, protect=protect, generator=g
    )
    chosen = labels != -100
    assert abs(chosen.float().mean().item() - 0.15 * 249 / 250) < 0.005
    assert not chosen[:, 0].any()  # protected positions are never chosen
    assert (labels[chosen] == ids[chosen]).all()
    assert (inputs[~chosen] == ids[~chosen]).all()  # the rest is untouched
    n = chosen.sum().item()
    masked = (inputs[chosen] == 1).sum().item() / n
    kept = (inputs[chosen] == ids[chosen]).sum().item() / n
    random = 1 - masked - kept
    assert (
        abs(masked - 0.8) < 0.01
        and abs(kept - 0.1 - 0.1 / 100) < 0.01
        and abs(random - 0.1) < 0.01
    )
    with pytest.raises(ValueError, match="mask_prob"):
        mask_tokens(ids, mask_id=1, vocab_size=100, mask_prob=1.5)
    with pytest.raises(ValueError, match="mask_id"):
        mask_tokens(ids, mask_id=100, vocab_size=100)


def test_mask_tokens_random_pool():
    g = torch.Generator().manual_seed(1)
    ids = torch.full((200, 200), 7)
    inputs, labels = mask_tokens(
        ids,
        mask_id=0,
        vocab_size=10,
        random_ids=torch.tensor([3, 4]),
        generator=g,
    )
    assert set(inputs.unique().tolist()) <= {0, 3, 4, 7}


def test_masked_lm_head_tied_and_learns():
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=12,
        d_model=32,
        num_heads=2,
        num_layers=1,
        max_len=8,
        dropout=0.0,
    )
    mlm = BertForMaskedLM(cfg)
    assert mlm.head.decoder.weight is mlm.bert.embeddings.word.weight
    ids = torch.arange(2, 10).repeat(
        16, 1
    )  # always the same sequence: easy to learn
    inputs = ids.clone()
    inputs[:, 3] = 1
    labels = torch.full_like(ids, -100)
    labels[:, 3] = ids[:, 3]
    opt = torch.optim.Adam(mlm.parameters(), lr=3e-3)
    first = mlm.loss(inputs, labels).item()
    for _ in range(40):
        loss = mlm.loss(inputs, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    logits, weights = mlm(inputs, need_weights=True)
    assert logits.shape == (16, 8, 12) and len(weights) == 1
    with pytest.raises(ValueError, match="labels must have the shape"):
        mlm.loss(inputs, labels[:, :4])


def test_classifier():
    model = _tiny()
    clf = BertClassifier(model, 3).eval()
    assert clf(torch.randint(0, 50, (2, 5))).shape == (2, 3)
    with pytest.raises(ValueError, match="num_classes"):
        BertClassifier(model, 1)
    with pytest.raises(TypeError, match="BertModel"):
        BertClassifier(torch.nn.Linear(2, 2), 2)


def test_bad_input():
    model = _tiny()
    with pytest.raises(ValueError, match="max_len is 16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=r"outside \[0, 50\)"):
        model(torch.tensor([[1, 50]]))
    with pytest.raises(TypeError, match="integer token ids"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="must be 2-D"):
        model(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="shape of ids"):
        model(
            torch.zeros(1, 3, dtype=torch.long),
            torch.ones(1, 4, dtype=torch.bool),
        )
    with pytest.raises(TypeError, match="0/1 integers"):
        model(torch.zeros(1, 3, dtype=torch.long), torch.full((1, 3), 2))
    with pytest.raises(ValueError, match="at least one token"):
        model(torch.zeros(1, 0, dtype=torch.long))
