"""The figure and printed-line checks that make check-html and authors use."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import figure_lint  # noqa: E402


def svg_of(width_in: float, tick_pt: float) -> str:
    fig, ax = plt.subplots(figsize=(width_in, 2))
    ax.plot([0, 1], [0, 1])
    ax.tick_params(labelsize=tick_pt)
    ax.set_xlabel("position", fontsize=10)
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    return buf.getvalue()


def test_svg_width_and_font_sizes():
    svg = svg_of(4, 8)
    assert abs(figure_lint.svg_width_px(svg) - 4 * 96) < 1
    sizes = {t.text: t.size_pt for t in figure_lint.svg_texts(svg)}
    assert sizes["position"] == 10
    assert sizes["0.0"] == 8


def test_legibility_depends_on_the_shown_width():
    narrow = svg_of(4, 8)  # 384 px: shown at full size
    assert figure_lint.illegible_texts(narrow, column_px=660) == []
    wide = svg_of(14, 8)  # 1344 px shrunk to 660: 8 pt becomes 3.9 pt
    small = figure_lint.illegible_texts(wide, column_px=660)
    assert small and all("pt" in s for s in small)
    assert "'position' 4.9 pt" in small


def test_alt_text_must_say_what_is_shown():
    assert figure_lint.alt_problem("") is not None
    assert "file name" in figure_lint.alt_problem("_images/abc.svg")
    assert figure_lint.alt_problem("heatmap") is not None
    assert figure_lint.alt_problem("Heatmap of weights per head.") is None


def test_printed_lines_as_the_reader_sees_them():
    text = "short\n" + "x" * 80 + "\nbar 10%\r" + "y" * 90 + "\n"
    assert [len(s) for s in figure_lint.long_lines(text)] == [80, 90]
    assert figure_lint.long_lines("a\rb" + "c" * 78) == []


def test_cell_problems_name_what_is_missing():
    svg = svg_of(4, 9)
    cell = {
        "cell_type": "code",
        "source": "plt.show()",
        "metadata": {},
        "outputs": [
            {"output_type": "display_data", "data": {"image/svg+xml": svg}},
            {"output_type": "stream", "name": "stdout", "text": "z" * 85},
        ],
    }
    found = figure_lint.cell_problems(cell)
    assert any("caption" in p for p in found)
    assert any("alt text" in p for p in found)
    assert any("printed line of 85" in p for p in found)
    cell["metadata"] = {
        "mystnb": {
            "figure": {"caption": "A rising line.", "name": "fig-line"},
            "image": {"alt": "A line rising from left to right."},
        }
    }
    cell["outputs"] = cell["outputs"][:1]
    assert figure_lint.cell_problems(cell) == []
    cell["outputs"] = cell["outputs"] * 2
    assert any("2 figures" in p for p in figure_lint.cell_problems(cell))
