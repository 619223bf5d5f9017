"""attnlib.data.translation: real-language pairs, value-disjoint splits,
vocabularies."""

import datetime as dt

import pytest
import torch

from attnlib.data.translation import (
    BOS,
    EOS,
    PAD,
    UNK,
    CharVocab,
    Pair,
    date_pairs,
    length_controlled,
    make_pairs,
    number_pairs,
    render_date,
    render_number,
    sample_dates,
    sample_numbers,
    split_values,
    task_tag,
)


def test_render_date_real_locales():
    d = dt.date(1998, 3, 4)
    assert render_date(d, "en") == "Wednesday, March 4, 1998"
    assert render_date(d, "fr") == "mercredi 4 mars 1998"
    assert render_date(d, "de") == "Mittwoch, 4. März 1998"
    assert render_date(d, "zh") == "1998年3月4日星期三"
    assert render_date(d, "fr", "long") == "4 mars 1998"
    with pytest.raises(ValueError, match="lang must be one of"):
        render_date(d, "xx")
    with pytest.raises(TypeError, match="datetime.date"):
        render_date("1998-03-04", "en")
    with pytest.raises(ValueError, match="fmt"):
        render_date(d, "en", "huge")


def test_render_number_words():
    assert render_number(71, "fr") == "soixante et onze"
    assert render_number(80, "fr") == "quatre-vingts"
    assert render_number(21, "en") == "twenty-one"
    assert render_number(71, "de") == "einundsiebzig"
    with pytest.raises(ValueError, match="value must be in"):
        render_number(-1, "fr")
    with pytest.raises(TypeError, match="int"):
        render_number(1.5, "fr")


def test_sampling_is_seeded_and_distinct():
    a, b = sample_dates(50, seed=3), sample_dates(50, seed=3)
    assert a == b and len(set(a)) == 50 and a != sample_dates(50, seed=4)
    nums = sample_numbers(300, seed=1, max_digits=3)
    assert len(set(nums)) == 300 and all(0 <= v < 1000 for v in nums)
    assert sorted(sample_numbers(10, seed=0, max_digits=1)) == list(
        range(10)
    )  # all ten 1-digit numbers
    lengths = [len(str(v)) for v in sample_numbers(1200, seed=0, max_digits=6)]
    assert all(
        220 <= lengths.count(d) <= 330 for d in (3, 4, 5, 6)
    )  # digit counts drawn evenly
    with pytest.raises(ValueError, match="only 10"):
        sample_numbers(11, max_digits=1)
    with pytest.raises(ValueError, match="distinct dates"):
        sample_dates(5, start=dt.date(2000, 1, 1), end=dt.date(2000, 1, 3))


def test_splits_share_no_value():
    train, test = split_values(list(range(20)), 5, seed=0)
    assert len(train) == 15 and len(test) == 5 and not set(train) & set(test)
    with pytest.raises(ValueError, match="distinct"):
        split_values([1, 1, 2], 1)
    tr, te = date_pairs(60, 20, ("fr", "zh"), seed=0)
    assert len(tr) == 120 and len(te) == 40
    assert not {p.value for p in tr} & {p.value for p in te}
    assert not {p.src for p in tr} & {p.src for p in te}
    assert {p.lang for p in te} == {"fr", "zh"}
    ntr, nte = number_pairs(100, 30, "fr", seed=0)
    assert not {p.value for p in ntr} & {p.value for p in nte}
    p = next(p for p in nte)
    assert (
        p.src == render_number(p.value, "en")
        and p.tgt == render_number(p.value, "fr")
        and p.task == "number"
    )
    assert date_pairs(10, 5, seed=7) == date_pairs(10, 5, seed=7)


def test_make_pairs_checks():
    pairs = make_pairs([dt.date(2000, 1, 1)], "date", ["de"])
    assert pairs == [
        Pair(
            "Saturday, January 1, 2000",
            "Samstag, 1. Januar 2000",
            "date",
            "de",
            dt.date(2000, 1, 1),
        )
    ]
    with pytest.raises(ValueError, match="task"):
        make_pairs([1], "poem", ["fr"])
    with pytest.raises(ValueError, match="target_langs"):
        make_pairs([1], "number", "fr")
    with pytest.raises(ValueError, match="target_langs entry"):
        make_pairs(
            [1], "number", ["zh"]
        )  # num2words: no zh among NUMBER_LANGS


def test_length_controlled():
    pairs = [Pair("x" * n, "y", "number", "fr", n) for n in range(1, 30)]
    got = length_controlled(pairs, [0, 10, 20, 30], per_bin=4, seed=0)
    lens = [len(p.src) for p in got]
    assert (
        len(got) == 12
        and sum(length < 10 for length in lens) == 4
        and sum(length >= 20 for length in lens) == 4
    )
    assert (
        length_controlled(pairs, [0, 3], per_bin=5)
        and len(length_controlled(pairs, [0, 3], per_bin=5)) == 2
    )
    with pytest.raises(ValueError, match="edges"):
        length_controlled(pairs, [5, 5], 1)


def test_task_tag():
    assert task_tag("fr") == "<2fr>"
    with pytest.raises(ValueError, match="two-letter"):
        task_tag("french")


def test_char_vocab_round_trip_and_specials():
    v = CharVocab.from_texts(["abc", "cab d"], tags=["<2fr>"])
    assert (
        v.itos[:5] == [PAD, BOS, EOS, UNK, "<2fr>"] and len(v) == 5 + 5
    )  # a b c d and space
    ids = v.encode("<2fr>bad", bos=True, eos=True)
    assert (
        ids[0] == v.bos_id
        and ids[-1] == v.eos_id
        and ids[1] == v.stoi["<2fr>"]
        and len(ids) == 6
    )
    assert v.decode(ids) == "<2fr>bad"
    assert v.decode(ids, strip=False) == "<bos><2fr>bad<eos>"
    assert (
        v.decode([v.stoi["a"], v.eos_id, v.stoi["b"]]) == "a"
    )  # stops at <eos>


def test_word_level_vocab():
    v = CharVocab.from_texts(
        ["quatre-vingt-dix", "1998年3月 März"], level="word"
    )
    assert v.tokenize("quatre-vingt 年") == ["quatre", "-", "vingt", " ", "年"]
    assert v.tokenize("März") == ["März"]
    assert v.decode(v.encode("vingt-quatre")) == "vingt-quatre"
    assert v.encode("vingts") == [v.unk_id]  # an unseen word is one <unk>


def test_bad_input_is_clear():
    v = CharVocab.from_texts(["abc"])
    assert v.encode("abz") == [v.stoi["a"], v.stoi["b"], v.unk_id]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        v.encode("abz", unknown="error")
    with pytest.raises(ValueError, match="empty"):
        v.encode("")
    with pytest.raises(ValueError, match="max_len is 3"):
        v.encode("abcabc", max_len=3)
    with pytest.raises(TypeError, match="str"):
        v.encode(5)
    with pytest.raises(ValueError, match="ids must be"):
        v.decode([99])
    with pytest.raises(ValueError, match="level"):
        CharVocab(["a"], level="byte")
    with pytest.raises(ValueError, match="tags"):
        CharVocab(["a"], tags=["2fr"])


def test_encode_batch_pads():
    v = CharVocab.from_texts(["abc"])
    batch = v.encode_batch(["a", "abc"], eos=True)
    assert batch.shape == (2, 4) and batch.dtype == torch.long
    assert batch[0].tolist() == [v.stoi["a"], v.eos_id, v.pad_id, v.pad_id]
    assert v.decode_batch(batch) == ["a", "abc"]
    with pytest.raises(ValueError, match="non-empty"):
        v.encode_batch([])
