"""Figures for attention: heatmaps with token labels, grids of heads, and
widgets that keep a static fallback for the built (kernel-less) book."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .progress import static_mode

__all__ = [
    "heatmap",
    "heads_grid",
    "widget_with_fallback",
    "widgets_enabled",
    "COLUMN_PX",
    "MIN_FONT_PT",
]

# The book's HTML shows a figure at most this wide (the content column at a
# 1280 px window; make check-html measures it): a wider figure is shrunk, and
# its text with it. 96 px make an inch, so COLUMN_PX / 96 inches fit as drawn.
COLUMN_PX = 680
# No text of a figure may be shown smaller than this (points, as drawn times
# the shrink factor): tools/figure_lint.py and make check-html check it.
MIN_FONT_PT = 7.0
COLUMN_IN = COLUMN_PX / 96


def columns_that_fit(panel_width_in: float) -> int:
    """How many panels ``panel_width_in`` inches wide fit side by side in the
    column without shrinking (at least one)."""
    return max(1, int(COLUMN_IN / panel_width_in + 1e-9))


def _to_numpy(w) -> np.ndarray:
    if isinstance(w, torch.Tensor):
        return w.detach().float().cpu().numpy()
    return np.asarray(w, dtype=float)


def heatmap(
    weights,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    *,
    ax=None,
    title: str | None = None,
    xlabel: str = "key position",
    ylabel: str = "query position",
    cmap: str = "viridis",
    colorbar: bool = True,
    vmin: float | None = 0.0,
    vmax: float | None = None,
    annotate: bool = False,
):
    """Draw one ``(n_q, n_k)`` weight matrix; rows are queries, columns
    keys. Returns the axes."""
    w = _to_numpy(weights)
    if w.ndim != 2:
        raise ValueError(
            f"weights must be 2-D (n_q, n_k), got shape {w.shape}"
        )
    if x_labels is not None and len(x_labels) != w.shape[1]:
        raise ValueError(
            f"x_labels has {len(x_labels)} entries but weights has "
            f"{w.shape[1]} columns"
        )
    if y_labels is not None and len(y_labels) != w.shape[0]:
        raise ValueError(
            f"y_labels has {len(y_labels)} entries but weights has "
            f"{w.shape[0]} rows"
        )
    if ax is None:
        _, ax = plt.subplots(
            figsize=(
                min(0.35 * w.shape[1] + 2.5, COLUMN_IN),
                0.35 * w.shape[0] + 1.5,
            )
        )
    im = ax.imshow(w, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    if x_labels is not None:
        ax.set_xticks(range(len(x_labels)), labels=list(x_labels), rotation=90)
    if y_labels is not None:
        ax.set_yticks(range(len(y_labels)), labels=list(y_labels))
    if annotate:
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                ax.text(
                    j,
                    i,
                    f"{w[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white"
                    if w[i, j] < 0.6 * (vmax or w.max() or 1)
                    else "black",
                )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(
            im, ax=ax, fraction=0.046, pad=0.04, label="attention weight"
        )
    return ax


def heads_grid(
    weights,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    titles: Sequence[str] | None = None,
    suptitle: str | None = None,
    size: float = 2.6,
):
    """A grid of heatmaps: ``(heads, n_q, n_k)`` in one row-major grid, or
    ``(layers, heads, n_q, n_k)`` as a layers x heads grid. Returns the
    figure."""
    w = _to_numpy(weights)
    if w.ndim == 3:
        n = w.shape[0]
        ncols = ncols or min(n, columns_that_fit(size))
        nrows = math.ceil(n / ncols)
        flat = list(w)
        default_titles = [f"head {i}" for i in range(n)]
    elif w.ndim == 4:
        nrows, ncols = w.shape[:2]
        size = min(size, COLUMN_IN / ncols)  # a layer's heads in one row
        flat = [w[i, j] for i in range(nrows) for j in range(ncols)]
        default_titles = [
            f"layer {i}, head {j}" for i in range(nrows) for j in range(ncols)
        ]
    else:
        raise ValueError(
            f"weights must be (heads, n_q, n_k) or "
            f"(layers, heads, n_q, n_k), got shape {w.shape}"
        )
    titles = list(titles) if titles is not None else default_titles
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False
    )
    vmax = float(w.max()) if w.size else 1.0
    for idx, ax in enumerate(axes.flat):
        if idx >= len(flat):
            ax.axis("off")
            continue
        heatmap(
            flat[idx],
            x_labels,
            y_labels,
            ax=ax,
            title=titles[idx],
            colorbar=False,
            vmax=vmax,
            xlabel="key" if idx + ncols >= len(flat) else "",
            ylabel="query" if idx % ncols == 0 else "",
        )
        # tick labels only under the lowest panel of each column
        if x_labels is not None and idx + ncols < len(flat):
            ax.set_xticklabels([])
        if y_labels is not None and idx % ncols != 0:
            ax.set_yticklabels([])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def widgets_enabled() -> bool:
    """True in a live Jupyter kernel with ipywidgets, unless the book is being
    built (``ATTNLIB_STATIC=1``: the HTML has no kernel to drive them)."""
    if static_mode():
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def widget_with_fallback(
    plot: Callable[..., None],
    params: dict[str, Sequence],
    *,
    static: Sequence[dict] | None = None,
    ncols: int = 4,
    size: tuple[float, float] = (3.4, 2.8),
    suptitle: str | None = None,
):
    """Show a static grid of ``plot`` over a few parameter settings, then (in a
    live kernel) sliders to explore every setting.

    ``plot(ax, **setting)`` draws one view on ``ax``. ``params`` maps each
    parameter to the values its slider offers. ``static`` lists the settings
    drawn in the static grid (default: up to ``ncols`` values of the first
    parameter, others at their first value). Returns the static figure.
    """
    if not params:
        raise ValueError(
            "params must name at least one parameter and its values"
        )
    for name, values in params.items():
        if len(values) == 0:
            raise ValueError(f"params[{name!r}] has no values")
    names = list(params)
    if static is None:
        first = list(params[names[0]])
        pick = (
            np.linspace(0, len(first) - 1, min(ncols, len(first)))
            .round()
            .astype(int)
        )
        static = [
            {names[0]: first[i], **{n: params[n][0] for n in names[1:]}}
            for i in pick
        ]
    # the settings wrap onto rows so that the grid fits the book's column
    cols = min(ncols, len(static), columns_that_fit(size[0]))
    rows = math.ceil(len(static) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False
    )
    for ax, setting in zip(axes.flat, static):
        plot(ax, **setting)
        if not ax.get_title():
            ax.set_title(
                ", ".join(
                    f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}"
                    for k, v in setting.items()
                )
            )
    for ax in list(axes.flat)[len(static) :]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    if widgets_enabled():
        import ipywidgets as widgets
        from IPython.display import display

        plt.show()  # the static grid first, then the live view below it
        sliders = {
            n: widgets.SelectionSlider(
                options=list(v),
                value=list(v)[0],
                description=n,
                continuous_update=False,
            )
            for n, v in params.items()
        }
        out = widgets.Output()

        def redraw(_=None):
            with out:
                out.clear_output(wait=True)
                f, ax = plt.subplots(figsize=(size[0] * 1.6, size[1] * 1.6))
                plot(ax, **{n: s.value for n, s in sliders.items()})
                plt.show()

        for s in sliders.values():
            s.observe(redraw, names="value")
        redraw()
        display(widgets.VBox([*sliders.values(), out]))
    return fig


def show_source(obj, *, title: str | None = None):
    """Show the source of a class or function of attnlib, highlighted.

    For models the chapter uses from the library rather than writing itself:
    nothing the reader trains stays invisible. Give the cell the tag
    ``hide-output`` and the HTML book folds the listing under a button.
    Returns the ``IPython.display.Markdown`` object (displayed in a
    notebook)."""
    import inspect

    from IPython.display import Markdown

    try:
        src = inspect.getsource(obj)
    except TypeError as err:
        raise TypeError(
            f"show_source needs a class or function, got {type(obj).__name__}"
        ) from err
    name = title or f"{obj.__module__}.{obj.__qualname__}"
    return Markdown(f"`{name}`\n\n```python\n{src.rstrip()}\n```")
