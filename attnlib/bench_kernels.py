"""Kernel rows for ``make bench``: exact and efficient attention side by side
(Chapter 11).

``efficient_kernel_rows(ns)`` times naive attention, tiled (online-softmax)
attention, PyTorch's ``scaled_dot_product_attention``, linear attention and
local (sliding-window) attention on one ``(batch 1, 1 head, n, d = 64)``
float32 problem per ``n``, and measures the extra memory each allocates.
``efficient_metrics(rows)`` turns the rows at the largest ``n`` into the
headline ratios.

How it measures:

* time: ``repeat`` rounds (5 by default) in which every kernel is called
  once, in turn (naive, tiled, sdpa, ..., naive, tiled, ...), wall clock, on
  one thread by default; a row's ``ms`` is the median of its rounds, and a
  ratio between two kernels is the median of the per-round ratios, so a
  drift of the machine's load hits both sides of a ratio alike;
* peak memory: one extra call under ``torch.profiler`` with
  ``profile_memory=True``; the peak of the running sum of the allocator's
  allocation/free events during the call, i.e. the most memory torch held
  beyond what it held before the call (output included). See
  :func:`attnlib.efficient.peak_memory`. Inputs are created before and are
  not counted.
"""

from __future__ import annotations

__all__ = ["efficient_kernel_rows", "efficient_metrics", "KERNELS"]

KERNELS = ("naive", "tiled", "sdpa", "linear", "local")
D_HEAD = 64
# local attention: each query sees keys within 255 positions on either side
WINDOW = 256
BLOCK_Q, BLOCK_K = 512, 1024
LOCAL_BLOCK = 256


def _kernels(q, k, v) -> dict:
    import torch.nn.functional as F

    from .efficient import (
        linear_attention,
        local_attention,
        naive_attention,
        tiled_attention,
    )

    return {
        "naive": lambda: naive_attention(q, k, v),
        "tiled": lambda: tiled_attention(
            q, k, v, block_q=BLOCK_Q, block_k=BLOCK_K
        ),
        "sdpa": lambda: F.scaled_dot_product_attention(q, k, v),
        "linear": lambda: linear_attention(q, k, v),
        "local": lambda: local_attention(
            q, k, v, WINDOW, block_size=LOCAL_BLOCK
        ),
    }


def efficient_kernel_rows(
    ns=(1024, 4096, 16384),
    *,
    kernels=KERNELS,
    repeat: int = 5,
    threads: int | None = 1,
) -> list[dict]:
    """Rows ``{"name", "n", "ms", "peak_mb"}`` (names prefixed ``attn_``) for
    every kernel and ``n``.

    ``peak_mb`` is the extra memory in MiB (2**20 bytes) the call allocates
    at its peak. ``threads``: torch's thread count while timing (restored
    afterwards); 1 by default, because on a shared or busy machine
    multi-threaded small operations (the tiled kernels issue many) slow down
    erratically when the cores are oversubscribed, while one thread gives
    comparable rows. ``None`` keeps torch's setting.
    """
    import torch

    unknown = set(kernels) - set(KERNELS)
    if unknown:
        raise ValueError(
            f"unknown kernels {sorted(unknown)}; choose from {KERNELS}"
        )
    for n in ns:
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise ValueError(f"every n must be a positive int, got {n!r}")
    if threads is not None and (not isinstance(threads, int) or threads <= 0):
        raise ValueError(
            f"threads must be a positive int or None, got {threads!r}"
        )
    rows, old_threads = [], torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        rows = _rows(ns, kernels, repeat)
    finally:
        torch.set_num_threads(old_threads)
    return rows


def _rows(ns, kernels, repeat) -> list[dict]:
    import statistics

    import torch

    from .bench import interleaved_times
    from .efficient import peak_memory

    rows = []
    for n in ns:
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(1, 1, n, D_HEAD, generator=g) for _ in range(3))
        fns = _kernels(q, k, v)
        fns = {name: fns[name] for name in kernels}
        with torch.inference_mode():
            peaks = {}
            for name, fn in fns.items():
                peak, out = peak_memory(fn)  # doubles as the warm-up call
                del out
                peaks[name] = peak
            times = interleaved_times(fns, rounds=repeat, warmup=0)
        for name in fns:
            rows.append(
                {
                    "name": f"attn_{name}",
                    "n": n,
                    "ms": round(statistics.median(times[name]), 2),
                    "peak_mb": round(peaks[name] / 2**20, 2),
                    "rounds_ms": [round(t, 3) for t in times[name]],
                }
            )
    return rows


def _tag(n: int) -> str:
    return f"{n // 1024}k" if n % 1024 == 0 else str(n)


def _at(rows: list[dict], n: int | None) -> tuple[int, dict]:
    n = max(r["n"] for r in rows) if n is None else n
    at = {r["name"]: r for r in rows if r["n"] == n}
    for need in ("attn_naive", "attn_tiled", "attn_sdpa"):
        if need not in at:
            raise ValueError(f"rows hold no {need!r} row at n = {n}")
    return n, at


def efficient_metrics(rows: list[dict], n: int | None = None) -> dict:
    """Headline ratios at ``n`` (default: the largest ``n`` in ``rows``),
    named with its size in k, e.g. ``tiled_mem_ratio_16k`` = tiled / naive
    peak extra memory; ``tiled_time_vs_naive_16k`` and
    ``tiled_time_vs_sdpa_16k``: medians of the per-round time ratios."""
    n, at = _at(rows, n)
    tag = _tag(n)
    spreads = efficient_ratio_spreads(rows, n)
    return {
        f"tiled_mem_ratio_{tag}": at["attn_tiled"]["peak_mb"]
        / at["attn_naive"]["peak_mb"],
        f"tiled_time_vs_naive_{tag}": spreads[f"tiled/naive@{tag}"]["median"],
        f"tiled_time_vs_sdpa_{tag}": spreads[f"tiled/sdpa@{tag}"]["median"],
    }


def efficient_ratio_spreads(rows: list[dict], n: int | None = None) -> dict:
    """``{"tiled/naive@16k": spread, "tiled/sdpa@16k": spread}``: the
    per-round time ratios at ``n`` (see :func:`attnlib.bench.ratio_spread`)."""
    from .bench import ratio_spread

    n, at = _at(rows, n)
    tiled = at["attn_tiled"]["rounds_ms"]
    return {
        f"tiled/{other}@{_tag(n)}": ratio_spread(
            tiled, at[f"attn_{other}"]["rounds_ms"]
        )
        for other in ("naive", "sdpa")
    }


if __name__ == "__main__":
    import json
    import sys

    sizes = tuple(int(a) for a in sys.argv[1:]) or (1024, 4096, 16384)
    result = efficient_kernel_rows(sizes)
    for row in result:
        print(
            f"{row['name']:<12} {row['n']:>6} {row['ms']:>10.2f} ms "
            f"{row['peak_mb']:>10.2f} MiB"
        )
    print(json.dumps(efficient_metrics(result), indent=2))
