"""Progress bars that suit both a live notebook and the built book.

In Jupyter, the terminal and tests, :func:`progress` is ``tqdm.auto.tqdm``.
When the book is built (``make book`` sets ``ATTNLIB_STATIC=1``) there is no
kernel to drive a widget bar, and a widget would render blank; there the bar
prints one summary line when it closes instead, e.g.
``training: 300/300 steps in 4.1 s (loss=1.93)``.
"""

from __future__ import annotations

import os
import time

from tqdm.auto import tqdm

ENV_STATIC = "ATTNLIB_STATIC"

__all__ = ["progress", "static_mode"]


def static_mode() -> bool:
    """True while the HTML book is being built (``ATTNLIB_STATIC`` set and not
    ``0``)."""
    return os.environ.get(ENV_STATIC, "") not in ("", "0")


class _SummaryBar:
    """The subset of tqdm's interface the book uses, printing one line at the
    end."""

    def __init__(
        self, iterable=None, total=None, desc=None, unit="it", **_ignored
    ):
        self.iterable, self.desc, self.unit = (
            iterable,
            desc or "progress",
            unit,
        )
        self.total = (
            total
            if total is not None
            else (len(iterable) if hasattr(iterable, "__len__") else None)
        )
        self.n, self.postfix, self.start, self.closed = (
            0,
            "",
            time.perf_counter(),
            False,
        )

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, n=1):
        self.n += n

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc=None, refresh=True):
        self.desc = desc or self.desc

    def close(self):
        if self.closed:
            return
        self.closed = True
        total = f"/{self.total}" if self.total is not None else ""
        extra = f" ({self.postfix})" if self.postfix else ""
        print(
            f"{self.desc}: {self.n}{total} {self.unit} in "
            f"{time.perf_counter() - self.start:.1f} s{extra}"
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def progress(iterable=None, *, total=None, desc=None, disable=False, **kwargs):
    """A ``tqdm.auto`` bar, or a one-line summary while the book is built."""
    if disable:
        return tqdm(iterable, total=total, desc=desc, disable=True, **kwargs)
    if static_mode():
        return _SummaryBar(iterable, total=total, desc=desc, **kwargs)
    # Refresh at most once a second: every refresh of a notebook bar is an
    # iopub (comm) message, and nbval only drains iopub after a cell ends, so
    # thousands of refreshes in one long cell overflow ZeroMQ's high-water
    # mark, the final "idle" message is dropped and nbval fails with "Timeout
    # of 5 seconds exceeded waiting for output".
    kwargs.setdefault("mininterval", 1.0)
    return tqdm(iterable, total=total, desc=desc, **kwargs)
