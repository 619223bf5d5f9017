"""Check what a reader of the HTML book sees of each executed chapter.

    python tools/figure_lint.py [NOTEBOOK_WITH_OUTPUTS ...]

With no argument it reads the notebooks that ``make book`` executed
(``_build/jupyter_execute/chapters/*.ipynb``). For every code cell:

* a cell that draws a figure has a numbered caption and a name
  (``mystnb.figure``: ``caption``, ``name``) and alt text that says what the
  figure shows (``mystnb.image.alt``, a sentence, not a file name), and
  draws exactly one figure (a caption labels one image);
* every text drawn in an SVG figure stays legible at the size the book shows
  it: the figure is scaled down to the column's width, and no text may end
  up smaller than ``MIN_FONT_PT`` (tick labels included);
* every printed line fits the column (``MAX_LINE`` characters).

``make check-html`` runs the same checks on the built pages (and measures the
column in the browser); this script gives a chapter's author the answer in
seconds from one executed notebook. Exit status 1 when something is found.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

# The widest a figure is shown (the content column at a 1280 px window;
# make check-html measures it) and the smallest legible text, in points:
# one definition, in the library the chapters draw with.
from attnlib.viz import COLUMN_PX, MIN_FONT_PT  # noqa: E402

# Longest printed line, in characters (the column shows about 80).
MAX_LINE = 79

IMAGE_TYPES = ("image/svg+xml", "image/png", "image/jpeg")
_SVG_WIDTH = re.compile(r'<svg[^>]*\swidth="([\d.]+)(pt|px)?"')
# matplotlib draws each text as glyphs inside <g transform="... scale(s -s)">
# preceded by a comment holding the text; the font size is 100 * s points.
_SVG_TEXT = re.compile(
    r"<!-- (?P<text>(?:(?!-->).)*?) -->\s*(?:<g[^>]*>\s*)*?"
    r'<g transform="[^"]*?scale\((?P<s>[\d.]+) -(?P=s)\)"',
    re.S,
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_FILE_NAME = re.compile(r"^[\w./-]+\.(svg|png|jpe?g|gif)$", re.I)


@dataclass
class SvgText:
    text: str
    size_pt: float


def svg_width_px(svg: str) -> float:
    """The natural width of a matplotlib SVG in CSS pixels."""
    match = _SVG_WIDTH.search(svg)
    if not match:
        raise ValueError("not an SVG with a width attribute")
    width, unit = float(match.group(1)), match.group(2) or "px"
    return width * 96 / 72 if unit == "pt" else width


def svg_texts(svg: str) -> list[SvgText]:
    """Every text matplotlib drew into ``svg`` with its font size in points."""
    return [
        SvgText(m.group("text"), 100 * float(m.group("s")))
        for m in _SVG_TEXT.finditer(svg)
    ]


def displayed_scale(natural_px: float, column_px: float = COLUMN_PX) -> float:
    """How much the page shrinks an image: wide ones are fit to the column."""
    return min(1.0, column_px / natural_px)


def illegible_texts(
    svg: str, column_px: float = COLUMN_PX, min_pt: float = MIN_FONT_PT
) -> list[str]:
    """Texts of ``svg`` drawn below ``min_pt`` once the figure is shown in a
    column ``column_px`` wide, as ``'"label" 5.2 pt'`` strings."""
    scale = displayed_scale(svg_width_px(svg), column_px)
    small = []
    for t in svg_texts(svg):
        shown = t.size_pt * scale
        if shown < min_pt - 1e-6:
            small.append(f"{t.text[:30]!r} {shown:.1f} pt")
    return small


def output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        text = output.get("text", "")
    elif output.get("output_type") in ("execute_result", "display_data"):
        data = output.get("data", {})
        if any(k in data for k in IMAGE_TYPES + ("text/html",)):
            return ""
        text = data.get("text/plain", "")
    else:
        return ""
    text = "".join(text) if isinstance(text, list) else text
    return _ANSI.sub("", text)


def long_lines(text: str, limit: int = MAX_LINE) -> list[str]:
    """Lines longer than ``limit`` as a reader sees them (``\\r`` redraws)."""
    lines = [line.split("\r")[-1] for line in text.split("\n")]
    return [line for line in lines if len(line.rstrip()) > limit]


def alt_problem(alt: str | None) -> str | None:
    if not alt or not alt.strip():
        return "no alt text (mystnb.image.alt)"
    if _FILE_NAME.match(alt.strip()):
        return f"alt text is a file name: {alt!r}"
    # words, or Chinese characters (Chinese text has no spaces)
    if len(alt.split()) < 3 and len(re.findall(r"[\u4e00-\u9fff]", alt)) < 6:
        return f"alt text too short to say what is shown: {alt!r}"
    return None


def cell_problems(cell: dict, column_px: float = COLUMN_PX) -> list[str]:
    """What a reader would miss in one executed code cell."""
    problems: list[str] = []
    images = [
        o["data"]
        for o in cell.get("outputs", [])
        if any(k in o.get("data", {}) for k in IMAGE_TYPES)
    ]
    meta = cell.get("metadata", {}).get("mystnb", {})
    if images:
        figure = meta.get("figure", {})
        if not str(figure.get("caption", "")).strip():
            problems.append("figure without a caption (mystnb.figure)")
        if not str(figure.get("name", "")).strip():
            problems.append("figure without a name to cite it by")
        bad_alt = alt_problem(meta.get("image", {}).get("alt"))
        if bad_alt:
            problems.append(bad_alt)
        if len(images) > 1:
            problems.append(
                f"{len(images)} figures in one cell: a caption labels one"
            )
        for data in images:
            svg = data.get("image/svg+xml")
            if svg:
                svg = "".join(svg) if isinstance(svg, list) else svg
                small = illegible_texts(svg, column_px)
                if small:
                    problems.append(
                        f"{len(small)} texts below {MIN_FONT_PT:g} pt when "
                        f"shown {column_px:g} px wide, e.g. "
                        + ", ".join(small[:3])
                    )
    for output in cell.get("outputs", []):
        for line in long_lines(output_text(output)):
            problems.append(f"printed line of {len(line)} chars: {line[:60]}")
    return problems


def notebook_problems(path: Path, column_px: float = COLUMN_PX) -> list[str]:
    nb = json.loads(Path(path).read_text())
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        first = "".join(cell["source"]).strip().split("\n")[0][:50]
        for p in cell_problems(cell, column_px):
            found.append(f"{path.name} cell {i} ({first}): {p}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--column-px", type=float, default=COLUMN_PX)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(
        Path("_build/jupyter_execute/chapters").glob("*.ipynb")
    )
    if not paths:
        print("no executed notebooks: run `make book` first", file=sys.stderr)
        return 2
    found = [
        p for path in paths for p in notebook_problems(path, args.column_px)
    ]
    for line in found:
        print(line)
    print(f"{len(found)} problems in {len(paths)} notebooks")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
