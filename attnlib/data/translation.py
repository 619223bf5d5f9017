"""Offline parallel pairs for translation: dates and numbers in real languages.

Every pair renders **one value** (a calendar date or an integer) twice: once
in English and once in a target language, with real locale data:

* dates through ``babel`` (CLDR): ``"Wednesday, March 4, 1998"`` ->
  ``"mercredi 4 mars 1998"`` (fr), ``"Mittwoch, 4. März 1998"`` (de),
  ``"1998年3月4日星期三"`` (zh). The target reorders the fields and changes
  their form (day names, month names, separators, Chinese digits-and-units).
* numbers written out in words through ``num2words``:
  ``"seventy-one"`` -> ``"soixante et onze"`` (fr), ``"einundsiebzig"`` (de).

This is a narrow, real domain, not open translation: the vocabulary is a few
dozen words, and every target is a deterministic function of the source.

Splits are made on the **values**, before rendering, so no date or number
occurs in both train and test (in any language). Everything is generated from
a seed, in memory, in well under a second for a few thousand pairs.

:class:`CharVocab` is a character vocabulary with special tokens (``<pad>``,
``<bos>``, ``<eos>``, ``<unk>``) and optional whole-word tags such as the
task prefix ``<2fr>`` ("translate to French").
"""

from __future__ import annotations

import datetime as _dt
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

import torch

__all__ = [
    "Pair",
    "DATE_LANGS",
    "NUMBER_LANGS",
    "render_date",
    "render_number",
    "sample_dates",
    "sample_numbers",
    "split_values",
    "make_pairs",
    "date_pairs",
    "number_pairs",
    "length_controlled",
    "task_tag",
    "CharVocab",
    "PAD",
    "BOS",
    "EOS",
    "UNK",
]

DATE_LANGS = ("en", "fr", "de", "zh")
NUMBER_LANGS = ("en", "fr", "de")
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"


@dataclass(frozen=True)
class Pair:
    """One parallel example: the source text, the target text, the task
    (``"date"`` or ``"number"``), the target language and the rendered
    value."""

    src: str
    tgt: str
    task: str
    lang: str
    value: object


def _check_lang(lang: str, allowed: Sequence[str], name: str = "lang") -> None:
    if lang not in allowed:
        raise ValueError(
            f"{name} must be one of {list(allowed)}, got {lang!r}"
        )


def render_date(value: _dt.date, lang: str, fmt: str = "full") -> str:
    """``value`` written in ``lang`` by babel's CLDR patterns (``fmt``: full,
    long, medium, short)."""
    from babel.dates import format_date

    if not isinstance(value, _dt.date):
        raise TypeError(
            f"value must be a datetime.date, got {type(value).__name__}"
        )
    _check_lang(lang, DATE_LANGS)
    if fmt not in ("full", "long", "medium", "short"):
        raise ValueError(
            f"fmt must be 'full', 'long', 'medium' or 'short', got {fmt!r}"
        )
    return format_date(value, fmt, locale=lang)


@lru_cache(maxsize=None)
def _words(value: int, lang: str) -> str:
    from num2words import num2words

    return num2words(value, lang=lang)


def render_number(value: int, lang: str) -> str:
    """The integer ``value`` (0 <= value < 10**9) written out in words in
    ``lang``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"value must be an int, got {type(value).__name__}")
    if not 0 <= value < 10**9:
        raise ValueError(f"value must be in [0, 10**9), got {value}")
    _check_lang(lang, NUMBER_LANGS)
    return _words(value, lang)


def sample_dates(
    n: int,
    seed: int = 0,
    start: _dt.date = _dt.date(1900, 1, 1),
    end: _dt.date = _dt.date(2099, 12, 31),
) -> list[_dt.date]:
    """``n`` distinct dates drawn uniformly from ``[start, end]`` (seeded)."""
    span = (end - start).days + 1
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if span <= 0:
        raise ValueError(
            f"end must not be before start, got start={start}, end={end}"
        )
    if n > span:
        raise ValueError(
            f"asked for {n} distinct dates but [start, end] holds only {span}"
        )
    offsets = random.Random(seed).sample(range(span), n)
    return [start + _dt.timedelta(days=o) for o in offsets]


def sample_numbers(n: int, seed: int = 0, max_digits: int = 6) -> list[int]:
    """``n`` distinct integers with a number of digits drawn uniformly from
    ``1..max_digits`` (so short and long numbers are equally common)."""
    if not isinstance(max_digits, int) or not 1 <= max_digits <= 9:
        raise ValueError(
            f"max_digits must be an int in [1, 9], got {max_digits!r}"
        )
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if n > 10**max_digits:
        raise ValueError(
            f"asked for {n} distinct numbers but only {10**max_digits} have "
            f"<= {max_digits} digits"
        )
    rng, seen, out = random.Random(seed), set(), []
    used = [0] * (max_digits + 1)  # values taken per digit count
    while len(out) < n:
        d = rng.randint(1, max_digits)
        lo = 0 if d == 1 else 10 ** (d - 1)
        if used[d] >= 10**d - lo:  # every d-digit number is taken already
            continue
        v = rng.randrange(lo, 10**d)
        if v not in seen:
            seen.add(v)
            used[d] += 1
            out.append(v)
    return out


def split_values(
    values: Sequence, n_test: int, seed: int = 0
) -> tuple[list, list]:
    """Shuffle distinct ``values`` (seeded) and cut them into ``(train, test)``
    with ``n_test`` test values; no value lands in both."""
    values = list(values)
    if len(set(values)) != len(values):
        raise ValueError(
            "values must be distinct, so that no value is shared between "
            "train and test"
        )
    if not isinstance(n_test, int) or not 0 <= n_test <= len(values):
        raise ValueError(
            f"n_test must be an int in [0, {len(values)}], got {n_test!r}"
        )
    random.Random(seed).shuffle(values)
    return values[n_test:], values[:n_test]


def task_tag(lang: str) -> str:
    """The T5-style task prefix token for target language ``lang``, e.g.
    ``"<2fr>"``."""
    if not isinstance(lang, str) or not re.fullmatch(r"[a-z]{2}", lang):
        raise ValueError(
            f"lang must be a two-letter language code, got {lang!r}"
        )
    return f"<2{lang}>"


def make_pairs(
    values: Iterable,
    task: str,
    target_langs: Sequence[str],
    *,
    src_lang: str = "en",
    fmt: str = "full",
) -> list[Pair]:
    """Render every value in ``src_lang`` and in each of ``target_langs``.

    ``task`` is ``"date"`` (values are dates) or ``"number"`` (values are
    ints)."""
    if task == "date":
        allowed, render = (
            DATE_LANGS,
            (lambda v, lang: render_date(v, lang, fmt)),
        )
    elif task == "number":
        allowed, render = NUMBER_LANGS, render_number
    else:
        raise ValueError(f"task must be 'date' or 'number', got {task!r}")
    _check_lang(src_lang, allowed, "src_lang")
    if isinstance(target_langs, str) or not target_langs:
        raise ValueError(
            "target_langs must be a non-empty sequence of language codes, "
            f"got {target_langs!r}"
        )
    for lang in target_langs:
        _check_lang(lang, allowed, "target_langs entry")
    pairs = []
    for v in values:
        src = render(v, src_lang)
        pairs.extend(
            Pair(src, render(v, lang), task, lang, v) for lang in target_langs
        )
    return pairs


def date_pairs(
    n_train: int,
    n_test: int,
    target_langs: Sequence[str] = ("fr", "de", "zh"),
    *,
    seed: int = 0,
    fmt: str = "full",
) -> tuple[list[Pair], list[Pair]]:
    """Train and test pairs of English full-format dates and their renderings
    in ``target_langs``; ``n_train`` and ``n_test`` count *dates* (each gives
    one pair per target language). No date is in both splits."""
    train_v, test_v = split_values(
        sample_dates(n_train + n_test, seed), n_test, seed + 1
    )
    return make_pairs(train_v, "date", target_langs, fmt=fmt), make_pairs(
        test_v, "date", target_langs, fmt=fmt
    )


def number_pairs(
    n_train: int,
    n_test: int,
    target_lang: str = "fr",
    *,
    seed: int = 0,
    max_digits: int = 6,
) -> tuple[list[Pair], list[Pair]]:
    """Train and test pairs of English numbers in words and their
    ``target_lang`` renderings (up to ``max_digits`` digits; lengths spread
    evenly). No number is in both splits."""
    train_v, test_v = split_values(
        sample_numbers(n_train + n_test, seed, max_digits), n_test, seed + 1
    )
    return make_pairs(train_v, "number", [target_lang]), make_pairs(
        test_v, "number", [target_lang]
    )


def length_controlled(
    pairs: Sequence[Pair], edges: Sequence[int], per_bin: int, seed: int = 0
) -> list[Pair]:
    """Up to ``per_bin`` pairs (seeded choice) from each source-length bin
    ``[edges[i], edges[i+1])``, for plotting accuracy against input length."""
    edges = list(edges)
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(
            f"edges must be at least two increasing integers, got {edges}"
        )
    if not isinstance(per_bin, int) or per_bin <= 0:
        raise ValueError(f"per_bin must be a positive int, got {per_bin!r}")
    rng, out = random.Random(seed), []
    for lo, hi in zip(edges, edges[1:]):
        members = [p for p in pairs if lo <= len(p.src) < hi]
        out.extend(rng.sample(members, min(per_bin, len(members))))
    return out


# a run of Latin letters (accents included): one token at level="word"
_WORD = r"[A-Za-zÀ-ÖØ-öø-ÿ]+"


class CharVocab:
    """Text to ids and back, with special tokens.

    ``level="char"``: every character is a token. ``level="word"``: every run
    of Latin letters (``"quatre"``, ``"März"``) is one token and every other
    character (digit, space, hyphen, comma, Chinese character) is a token of
    its own, so sequences are about 3 times shorter and
    ``"".join(tokens) == text`` still holds.

    Ids ``0..3`` are ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``; then any
    ``tags`` (whole tokens such as ``"<2fr>"``, recognised inside a text);
    then the tokens, sorted. Unknown tokens become ``<unk>`` (or raise,
    with ``unknown="error"``).
    """

    def __init__(
        self,
        tokens: Iterable[str],
        tags: Iterable[str] = (),
        level: str = "char",
    ):
        if level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {level!r}")
        tokens = sorted(set(tokens))
        tags = list(dict.fromkeys(tags))
        for t in tags:
            if not re.fullmatch(r"<[^<>\s]+>", t):
                raise ValueError(f"tags must look like '<name>', got {t!r}")
        if level == "char" and any(len(c) != 1 for c in tokens):
            raise ValueError(
                "tokens must be single characters at level='char'"
            )
        if any(not c for c in tokens):
            raise ValueError("tokens must not be empty strings")
        self.level = level
        self.itos = (
            [PAD, BOS, EOS, UNK]
            + [t for t in tags if t not in (PAD, BOS, EOS, UNK)]
            + [t for t in tokens if t not in tags]
        )
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.tags = [t for t in tags if t not in (PAD, BOS, EOS, UNK)]
        parts = (
            [re.escape(t) for t in self.tags]
            + ([_WORD] if level == "word" else [])
            + ["."]
        )
        self._token_re = re.compile("|".join(parts), re.S)
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = 0, 1, 2, 3

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        tags: Iterable[str] = (),
        level: str = "char",
    ) -> "CharVocab":
        """The vocabulary of every token in ``texts`` (plus ``tags``)."""
        probe = cls(["a"], tags, level)
        tokens = set()
        for t in texts:
            tokens.update(probe.tokenize(t))
        if not tokens:
            raise ValueError("texts hold no characters")
        return cls(tokens - set(probe.tags), tags, level)

    def __len__(self) -> int:
        return len(self.itos)

    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into tags, words (at ``level="word"``) and single
        characters."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return self._token_re.findall(text)

    def encode(
        self,
        text: str,
        *,
        bos: bool = False,
        eos: bool = False,
        max_len: int | None = None,
        unknown: str = "unk",
    ) -> list[int]:
        """Token ids of ``text``, optionally framed by ``<bos>``/``<eos>``.

        Raises ValueError for an empty text, for a text longer than ``max_len``
        ids (specials included), and, with ``unknown="error"``, for characters
        outside the vocabulary (else they map to ``<unk>``)."""
        if unknown not in ("unk", "error"):
            raise ValueError(
                f"unknown must be 'unk' or 'error', got {unknown!r}"
            )
        tokens = self.tokenize(text)
        if not tokens:
            raise ValueError("text is empty; there is nothing to translate")
        missing = [t for t in tokens if t not in self.stoi]
        if missing and unknown == "error":
            raise ValueError(
                "text holds tokens outside the vocabulary: "
                f"{sorted(set(missing))}"
            )
        ids = (
            [self.bos_id] * bos
            + [self.stoi.get(t, self.unk_id) for t in tokens]
            + [self.eos_id] * eos
        )
        if max_len is not None and len(ids) > max_len:
            raise ValueError(
                f"text gives {len(ids)} tokens but max_len is {max_len}; "
                "shorten the input (the model was trained on shorter "
                "sequences)"
            )
        return ids

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        bos: bool = False,
        eos: bool = False,
        max_len: int | None = None,
        unknown: str = "unk",
    ) -> torch.Tensor:
        """``(batch, longest)`` int64 ids, right-padded with ``<pad>``."""
        if isinstance(texts, str) or len(texts) == 0:
            raise ValueError("texts must be a non-empty sequence of strings")
        rows = [
            self.encode(t, bos=bos, eos=eos, max_len=max_len, unknown=unknown)
            for t in texts
        ]
        out = torch.full(
            (len(rows), max(map(len, rows))), self.pad_id, dtype=torch.long
        )
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return out

    def decode(self, ids, *, strip: bool = True) -> str:
        """Text of ``ids``; with ``strip`` stop at the first ``<eos>`` and drop
        ``<pad>``/``<bos>`` (``<unk>`` is kept visible)."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        bad = [
            i
            for i in ids
            if not isinstance(i, int) or not 0 <= i < len(self.itos)
        ]
        if bad:
            raise ValueError(
                f"ids must be ints in [0, {len(self.itos)}), got {bad[:5]}"
            )
        out = []
        for i in ids:
            if strip and i == self.eos_id:
                break
            if strip and i in (self.pad_id, self.bos_id):
                continue
            out.append(self.itos[i])
        return "".join(out)

    def decode_batch(self, ids: torch.Tensor) -> list[str]:
        """:meth:`decode` for every row of a ``(batch, n)`` tensor."""
        if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
            raise ValueError("ids must be a (batch, n) tensor")
        return [self.decode(row) for row in ids]
