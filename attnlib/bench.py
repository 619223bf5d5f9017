"""Benchmarks: chapters report headline metrics; ``make bench`` collects them.

In a chapter::

    from attnlib.bench import report

    report(charlm_val_loss=1.74)

``report`` does nothing unless the environment variable ``ATTNLIB_BENCH_FILE``
names a JSON file (``make bench`` sets it per chapter), so chapters run the
same way in Jupyter, in tests and in the benchmark.

``python -m attnlib.bench`` executes every chapter once with timing, runs the
kernel benchmarks, prints a table and writes ``_build/bench.json``::

    {"date": "2026-11-25T17:00:00Z", "machine": {...},
     "chapters": {"chapters/01_x.ipynb": {"seconds": s, "metrics": {...}}},
     "kernels": [{"name": ..., "n": ..., "ms": ..., "peak_mb": ...}, ...],
     "kernel_metrics": {"tiled_mem_ratio_16k": ..., ...}}

With ``--snapshot benchmarks/latest.json`` it also writes that copy, which is
committed and which the book's page "How fast is this book?"
(``chapters/how_fast.ipynb``) renders; that page is not itself run by the
benchmark. :func:`load` reads either file back.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ENV_FILE = "ATTNLIB_BENCH_FILE"

__all__ = [
    "report",
    "time_ms",
    "interleaved_times",
    "ratio_spread",
    "mha_kernel_rows",
    "machine_info",
    "load",
    "main",
    "REPORT_PAGE",
]

# The book page that renders the benchmark; the benchmark does not run it.
REPORT_PAGE = "how_fast.ipynb"


def report(**metrics: float) -> None:
    """Record headline metrics of the running chapter (a no-op outside
    ``make bench``)."""
    path = os.environ.get(ENV_FILE)
    for name, value in metrics.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(
                f"metric {name!r} must be a number, got {type(value).__name__}"
            )
    if not path:
        return
    p = Path(path)
    current = json.loads(p.read_text()) if p.exists() else {}
    current.update({k: float(v) for k, v in metrics.items()})
    p.write_text(json.dumps(current, indent=2))


def time_ms(fn, *, repeat: int = 7, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in milliseconds."""
    for _ in range(warmup):
        fn()
    return statistics.median(_timed(fn) for _ in range(repeat))


def _timed(fn) -> float:
    import torch

    t0 = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3


def interleaved_times(
    fns: dict, *, rounds: int = 7, warmup: int = 1
) -> dict[str, list[float]]:
    """Wall times (ms) of every function, one call each per round, in turn:
    A, B, C, A, B, C, ... A slow drift of the machine's load then hits every
    function of a round alike, and the per-round ratios cancel it."""
    if not fns:
        raise ValueError("fns must name at least one function to time")
    if not isinstance(rounds, int) or rounds <= 0:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(_timed(fn))
    return times


def ratio_spread(num: list[float], den: list[float]) -> dict:
    """Per-round ratios ``num[i] / den[i]``: median, quartiles, min and max."""
    if len(num) != len(den) or not num:
        raise ValueError(
            f"num and den need one time per round each, got {len(num)} "
            f"and {len(den)}"
        )
    ratios = sorted(a / b for a, b in zip(num, den))
    if len(ratios) > 1:
        q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    else:
        q1 = q3 = ratios[0]
    return {
        "median": round(statistics.median(ratios), 4),
        "q1": round(q1, 4),
        "q3": round(q3, 4),
        "min": round(ratios[0], 4),
        "max": round(ratios[-1], 4),
        "rounds": len(ratios),
    }


# The multi-head rows are compared with the bare SDPA module.
MHA_BASELINE = "sdpa"


def mha_kernel_rows(
    batch: int = 8,
    n: int = 1024,
    d: int = 768,
    heads: int = 12,
    repeat: int = 9,
) -> list[dict]:
    """Forward time of attnlib's MultiHeadAttention vs
    ``nn.MultiheadAttention`` vs a minimal module with the same projections
    around ``scaled_dot_product_attention``, timed in ``repeat`` interleaved
    rounds. Each row holds the median ``ms``, the per-round times and, except
    for the baseline, ``vs_sdpa``: the spread of its per-round ratio to
    SDPA."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from .layers import MultiHeadAttention

    class SDPAMultiHead(nn.Module):
        """The baseline: four projections and the fused kernel."""

        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (
                nn.Linear(d, d) for _ in range(4)
            )

        def forward(self, x):
            b, t, _ = x.shape

            def split(z):
                return z.view(b, t, heads, d // heads).transpose(1, 2)

            y = F.scaled_dot_product_attention(
                split(self.q(x)), split(self.k(x)), split(self.v(x))
            )
            return self.o(y.transpose(1, 2).reshape(b, t, d))

    torch.manual_seed(0)
    x = torch.randn(batch, n, d)
    ours = MultiHeadAttention(d, heads).eval()
    ref = nn.MultiheadAttention(d, heads, batch_first=True).eval()
    sdpa = SDPAMultiHead().eval()
    runs = {
        "attnlib_mha": lambda: ours(x),
        "attnlib_mha_weights": lambda: ours(x, need_weights=True),
        "torch_nn_mha": lambda: ref(x, x, x, need_weights=False),
        MHA_BASELINE: lambda: sdpa(x),
    }
    with torch.inference_mode():
        times = interleaved_times(runs, rounds=repeat)
    rows = []
    for name, ms in times.items():
        row = {
            "name": name,
            "n": n,
            "batch": batch,
            "d": d,
            "heads": heads,
            "ms": round(statistics.median(ms), 2),
            "rounds_ms": [round(t, 2) for t in ms],
        }
        if name != MHA_BASELINE:
            row["vs_sdpa"] = ratio_spread(ms, times[MHA_BASELINE])
        rows.append(row)
    return rows


def _git_commit() -> str | None:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_info() -> dict:
    """What the numbers were measured on: CPU, cores, memory, torch and its
    threads, device, and the commit of the book."""
    import torch

    from . import __version__
    from .device import get_device

    device = get_device()
    info = {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "python": platform.python_version(),
        "attnlib": __version__,
        "commit": _git_commit(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def load(path: str | os.PathLike) -> dict:
    """Read a benchmark report written by ``make bench``, with a clear error
    when it is missing."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"no benchmark report at {p}: run `make bench` in the book's "
            f"folder to write one"
        )
    result = json.loads(p.read_text())
    missing = {"machine", "chapters", "kernels"} - set(result)
    if missing:
        raise ValueError(
            f"{p} is not a benchmark report: it lacks {sorted(missing)}"
        )
    return result


def run_chapter(path: Path, timeout: int = 600) -> dict:
    """Execute one notebook in its own folder with a fresh kernel; return
    seconds and metrics."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "metrics.json"
        os.environ[ENV_FILE] = str(out)
        try:
            t0 = time.perf_counter()
            NotebookClient(
                nb,
                timeout=timeout,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
            ).execute()
            seconds = time.perf_counter() - t0
        finally:
            os.environ.pop(ENV_FILE, None)
        metrics = json.loads(out.read_text()) if out.exists() else {}
    return {"seconds": round(seconds, 1), "metrics": metrics}


# Goals of the kernel comparisons: median per-round ratio at most this.
RATIO_GOALS = {
    "attnlib_mha/sdpa": 1.2,
    "tiled/naive@16k": 1.5,
    "tiled/sdpa@16k": 3.0,
}


def format_spread(spread: dict) -> str:
    """``1.02 (IQR 0.97-1.08, range 0.91-1.19, 9 rounds)``."""
    return (
        f"{spread['median']:.2f} (IQR {spread['q1']:.2f}-{spread['q3']:.2f},"
        f" range {spread['min']:.2f}-{spread['max']:.2f},"
        f" {spread['rounds']} rounds)"
    )


def print_table(result: dict) -> None:
    m = result["machine"]
    print(
        f"\nMachine: {m.get('cpu', m['processor'])}, {m['cores']} cores, "
        f"torch {m['torch']} ({m['torch_threads']} threads), "
        f"device {m['device']}, commit {m.get('commit')}"
    )
    if result["chapters"]:
        print(f"\n{'chapter':<44} {'seconds':>8}  metrics")
        for name, row in result["chapters"].items():
            metrics = ", ".join(
                f"{k}={v:.4g}" for k, v in row["metrics"].items()
            )
            print(f"{name:<44} {row['seconds']:>8.1f}  {metrics}")
        total = sum(r["seconds"] for r in result["chapters"].values())
        print(f"{'total':<44} {total:>8.1f}")
    if result["kernels"]:
        print(f"\n{'kernel':<22} {'n':>6} {'ms':>10} {'peak MB':>9}")
        for row in result["kernels"]:
            peak = row.get("peak_mb")
            peak = "" if peak is None else f"{peak:9.1f}"
            print(f"{row['name']:<22} {row['n']:>6} {row['ms']:>10.2f} {peak}")
    ratios = result.get("kernel_ratios", {})
    if ratios:
        print("\nper-round ratios, interleaved (median, IQR, range):")
    for name, spread in ratios.items():
        goal = RATIO_GOALS.get(name)
        verdict = ""
        if goal is not None:
            met = "met" if spread["median"] <= goal else "NOT met"
            verdict = f"  goal <= {goal:g}: {met}"
        print(f"  {name:<22} {format_spread(spread)}{verdict}")
    for name, value in result.get("kernel_metrics", {}).items():
        print(f"{name} = {value:.4g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time every chapter and the attention kernels."
    )
    parser.add_argument(
        "notebooks",
        nargs="*",
        help="notebooks to run (default: chapters/*.ipynb)",
    )
    parser.add_argument("--out", default="_build/bench.json")
    parser.add_argument(
        "--snapshot",
        default=None,
        help=(
            "also write the report here "
            "(the committed copy the book's page renders)"
        ),
    )
    parser.add_argument(
        "--no-chapters",
        action="store_true",
        help="only run the kernel benchmarks",
    )
    parser.add_argument(
        "--no-kernels", action="store_true", help="only run the chapters"
    )
    args = parser.parse_args(argv)

    notebooks = [Path(p) for p in args.notebooks] or sorted(
        p for p in Path("chapters").glob("*.ipynb") if p.name != REPORT_PAGE
    )
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result = {
        "date": date,
        "machine": machine_info(),
        "chapters": {},
        "kernels": [],
    }
    if not args.no_chapters:
        if not notebooks:
            print("no notebooks found under chapters/", file=sys.stderr)
            return 1
        for nb in notebooks:
            print(f"running {nb} ...", flush=True)
            result["chapters"][nb.as_posix()] = run_chapter(nb)
    if not args.no_kernels:
        from .bench_kernels import (
            efficient_kernel_rows,
            efficient_metrics,
            efficient_ratio_spreads,
        )

        print("timing kernels ...", flush=True)
        mha = mha_kernel_rows()
        efficient = efficient_kernel_rows()
        result["kernels"] = mha + efficient
        result["kernel_metrics"] = efficient_metrics(efficient)
        result["kernel_ratios"] = {
            f"{r['name']}/{MHA_BASELINE}": r["vs_sdpa"]
            for r in mha
            if "vs_sdpa" in r
        } | efficient_ratio_spreads(efficient)
    print_table(result)
    for out in filter(None, (args.out, args.snapshot)):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
