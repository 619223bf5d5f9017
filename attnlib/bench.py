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

With ``--snapshot benchmarks/latest.json`` it also writes that copy, which is committed
and which the book's page "How fast is this book?" (``chapters/how_fast.ipynb``) renders;
that page is not itself run by the benchmark. :func:`load` reads either file back.
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
    "mha_kernel_rows",
    "machine_info",
    "load",
    "main",
    "REPORT_PAGE",
]

# The book page that renders the benchmark; the benchmark does not run it.
REPORT_PAGE = "how_fast.ipynb"


def report(**metrics: float) -> None:
    """Record headline metrics of the running chapter (a no-op outside ``make bench``)."""
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
    import torch

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def mha_kernel_rows(
    batch: int = 8,
    n: int = 1024,
    d: int = 768,
    heads: int = 12,
    repeat: int = 7,
) -> list[dict]:
    """Forward time of attnlib's MultiHeadAttention vs ``nn.MultiheadAttention`` vs a
    minimal module with the same projections around ``scaled_dot_product_attention``."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from .layers import MultiHeadAttention

    class SDPAMultiHead(nn.Module):
        """The baseline: four projections and the fused kernel, nothing else."""

        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (
                nn.Linear(d, d) for _ in range(4)
            )

        def forward(self, x):
            b, t, _ = x.shape
            split = lambda z: z.view(b, t, heads, d // heads).transpose(1, 2)  # noqa: E731
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
        "sdpa": lambda: sdpa(x),
    }
    rows = []
    with torch.inference_mode():
        for name, fn in runs.items():
            rows.append(
                {
                    "name": name,
                    "n": n,
                    "batch": batch,
                    "d": d,
                    "heads": heads,
                    "ms": round(time_ms(fn, repeat=repeat), 2),
                }
            )
    return rows


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
    """What the numbers were measured on: CPU, cores, memory, torch and its threads, device."""
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
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def load(path: str | os.PathLike) -> dict:
    """Read a benchmark report written by ``make bench``, with a clear error when it is missing."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"no benchmark report at {p}: run `make bench` in the book's folder to write one"
        )
    result = json.loads(p.read_text())
    missing = {"machine", "chapters", "kernels"} - set(result)
    if missing:
        raise ValueError(
            f"{p} is not a benchmark report: it lacks {sorted(missing)}"
        )
    return result


def run_chapter(path: Path, timeout: int = 600) -> dict:
    """Execute one notebook in its own folder with a fresh kernel; return seconds and metrics."""
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


def print_table(result: dict) -> None:
    m = result["machine"]
    print(
        f"\nMachine: {m.get('cpu', m['processor'])}, {m['cores']} cores, torch {m['torch']} "
        f"({m['torch_threads']} threads), device {m['device']}"
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
            print(
                f"{row['name']:<22} {row['n']:>6} {row['ms']:>10.2f} {'' if peak is None else f'{peak:9.1f}'}"
            )
        ms = {r["name"]: r["ms"] for r in result["kernels"]}
        if "attnlib_mha" in ms and "sdpa" in ms:
            print(
                f"\nattnlib_mha / sdpa = {ms['attnlib_mha'] / ms['sdpa']:.2f} (goal <= 1.2)"
            )
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
        help="also write the report here (the committed copy the book's page renders)",
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
        from .bench_kernels import efficient_kernel_rows, efficient_metrics

        print("timing kernels ...", flush=True)
        efficient = efficient_kernel_rows()
        result["kernels"] = mha_kernel_rows() + efficient
        result["kernel_metrics"] = efficient_metrics(efficient)
    print_table(result)
    for out in filter(None, (args.out, args.snapshot)):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
