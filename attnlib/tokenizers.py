"""A WordPiece tokenizer (BERT's), written out in plain Python.

BERT-family models read *subword* tokens: a fixed vocabulary of about 30,000
whole words and word pieces (``"##ing"`` continues a word). Turning text into
those ids takes three steps, all in :class:`WordPieceTokenizer`:

1. **normalise** the text: drop control characters, turn every kind of
   white space into ``" "``, put spaces around CJK ideographs, and (for an
   uncased model) lower-case it and strip accents (``"Café"`` -> ``"cafe"``);
2. **pre-tokenise**: split on white space, and make every punctuation
   character a word of its own;
3. **WordPiece**: split each word greedily into the *longest* vocabulary
   entry that matches at its start, then the longest ``##``-piece that
   continues it, and so on. A word that cannot be split completely (or is
   longer than 100 characters) becomes ``[UNK]``.

The result equals the Rust ``tokenizers`` library on BERT's uncased
``tokenizer.json`` (the tests compare them on many sentences); we keep our
own version because it is short enough to read in full and because the
book's tokenizer should not depend on a configuration file's padding and
truncation defaults. Special tokens written literally in the text
(``"[MASK]"``) are kept as one token, as ``tokenizers`` does.

Usage::

    tok = WordPieceTokenizer.from_vocab_file("vocab.txt")
    tok.tokenize("Unbelievable!")  # ['un', '##bel', '##ie', '##vable', '!']
    ids, mask = tok(
        ["a sentence", "another, longer sentence"]
    )  # padded (batch, n) tensors
    tok.convert_ids_to_tokens(ids[0])
"""

from __future__ import annotations

import re
import string
import unicodedata
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import torch

__all__ = ["WordPieceTokenizer", "basic_tokenize", "wordpiece"]

_ASCII_PUNCT = frozenset(string.punctuation)
_CJK = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK)


def _is_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def _normalize(text: str, lowercase: bool) -> str:
    out = []
    for ch in text:
        if ch in "\t\n\r":
            out.append(" ")
        elif ch in "\x00\ufffd" or unicodedata.category(ch).startswith("C"):
            continue  # control and format characters vanish
        elif unicodedata.category(ch).startswith("Z"):
            out.append(" ")  # every kind of space becomes " "
        elif _is_cjk(ch):
            out.append(f" {ch} ")  # each ideograph is a word of its own
        else:
            out.append(ch)
    text = "".join(out)
    if lowercase:
        text = "".join(
            c
            for c in unicodedata.normalize("NFD", text)
            if unicodedata.category(c) != "Mn"
        )
        text = "".join(
            c.lower() for c in text
        )  # per character: no final-sigma rule, as in Rust
    return text


def basic_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Normalise ``text`` and split it into words and single punctuation
    characters."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    words = []
    for chunk in _normalize(text, lowercase).split():
        current = ""
        for ch in chunk:
            if _is_punct(ch):
                if current:
                    words.append(current)
                words.append(ch)
                current = ""
            else:
                current += ch
        if current:
            words.append(current)
    return words


def wordpiece(
    word: str,
    vocab: dict[str, int] | set[str],
    unk: str = "[UNK]",
    max_chars: int = 100,
) -> list[str]:
    """Greedy longest-match-first split of one word into vocabulary pieces
    (continuations carry the prefix ``##``); ``[unk]`` if no complete split
    exists."""
    if len(word) > max_chars:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:  # nothing matches here: the whole word is unknown
            return [unk]
        pieces.append(piece)
        start = end
    return pieces


class WordPieceTokenizer:
    """BERT's uncased WordPiece tokenizer with padding, truncation and special
    tokens.

    Parameters
    ----------
    vocab : the tokens in id order (line ``i`` of ``vocab.txt`` has id ``i``).
    lowercase : lower-case and strip accents (True for uncased models).
    max_len : default length limit *including* ``[CLS]`` and ``[SEP]``; longer
        input is truncated with a warning (256 for all-MiniLM-L6-v2).
    """

    special_tokens = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

    def __init__(
        self,
        vocab: Sequence[str],
        *,
        lowercase: bool = True,
        max_len: int = 512,
    ):
        vocab = list(vocab)
        if len(set(vocab)) != len(vocab):
            raise ValueError("vocab must not contain duplicate tokens")
        missing = [t for t in self.special_tokens if t not in vocab]
        if missing:
            raise ValueError(f"vocab lacks the special tokens {missing}")
        if not isinstance(max_len, int) or max_len < 2:
            raise ValueError(
                "max_len must be an int >= 2 (room for [CLS] and [SEP]), got "
                f"{max_len!r}"
            )
        self.vocab = vocab
        self.token_to_id = {t: i for i, t in enumerate(vocab)}
        self.lowercase, self.max_len = lowercase, max_len
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            self.token_to_id[t] for t in self.special_tokens
        )
        self._special_re = re.compile(
            "(" + "|".join(re.escape(t) for t in self.special_tokens) + ")"
        )

    @classmethod
    def from_vocab_file(
        cls, path: str | Path, **kwargs
    ) -> "WordPieceTokenizer":
        """Read ``vocab.txt`` (one token per line)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary file {path} does not exist")
        try:
            tokens = path.read_text(encoding="utf-8").split("\n")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"vocabulary file {path} is not UTF-8 text: {err}"
            ) from None
        if tokens and tokens[-1] == "":
            tokens = tokens[:-1]
        if not tokens:
            raise ValueError(f"vocabulary file {path} is empty")
        try:
            return cls(tokens, **kwargs)
        except ValueError as err:
            raise ValueError(f"vocabulary file {path}: {err}") from None

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    # -- text -> tokens -> ids ----------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """Word pieces of ``text`` (no ``[CLS]``/``[SEP]``, no truncation)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        tokens = []
        for part in self._special_re.split(text):
            if part in self.special_tokens:
                tokens.append(part)
                continue
            for word in basic_tokenize(part, self.lowercase):
                tokens.extend(wordpiece(word, self.token_to_id))
        return tokens

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        return [self.token_to_id.get(t, self.unk_id) for t in tokens]

    def convert_ids_to_tokens(self, ids) -> list[str]:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        bad = [
            i
            for i in ids
            if not (isinstance(i, int) and 0 <= i < len(self.vocab))
        ]
        if bad:
            raise ValueError(
                f"ids must be ints in [0, {len(self.vocab)}), got {bad[:5]}"
            )
        return [self.vocab[i] for i in ids]

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """``[CLS] pieces [SEP]`` ids; longer than ``max_len`` (default
        ``self.max_len``) is truncated, keeping ``[SEP]`` last, with a
        warning."""
        max_len = self.max_len if max_len is None else max_len
        if not isinstance(max_len, int) or max_len < 2:
            raise ValueError(
                "max_len must be an int >= 2 (room for [CLS] and [SEP]), got "
                f"{max_len!r}"
            )
        ids = self.convert_tokens_to_ids(self.tokenize(text))
        if len(ids) + 2 > max_len:
            warnings.warn(
                f"text of {len(ids) + 2} tokens (with [CLS] and [SEP]) "
                f"truncated to max_len={max_len}: {text[:40]!r}...",
                stacklevel=2,
            )
            ids = ids[: max_len - 2]
        return [self.cls_id, *ids, self.sep_id]

    def decode(self, ids, skip_special: bool = True) -> str:
        """Join word pieces back into (normalised) text."""
        out = []
        for t in self.convert_ids_to_tokens(ids):
            if skip_special and t in self.special_tokens:
                continue
            if t.startswith("##") and out:
                out[-1] += t[2:]
            else:
                out.append(t)
        return " ".join(out)

    def __call__(self, texts: str | Sequence[str], max_len: int | None = None):
        """Encode a batch: ``(ids (batch, n) int64, mask (batch, n) bool)``,
        padded with ``[PAD]`` to the longest sequence; ``mask`` is True at real
        tokens."""
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not all(
            isinstance(t, str) for t in texts
        ):
            raise TypeError("texts must be a str or a list of str")
        if not texts:
            raise ValueError("texts must hold at least one string")
        rows = [self.encode(t, max_len) for t in texts]
        n = max(len(r) for r in rows)
        ids = torch.full((len(rows), n), self.pad_id, dtype=torch.long)
        mask = torch.zeros(len(rows), n, dtype=torch.bool)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, : len(r)] = True
        return ids, mask

    def __repr__(self) -> str:
        return (
            f"WordPieceTokenizer(vocab_size={self.vocab_size}, "
            f"lowercase={self.lowercase}, max_len={self.max_len})"
        )
