"""No page of the book ships placeholder text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "chapters").glob("*.ipynb")) + sorted(
    p for p in ROOT.glob("*.md") if p.name != "README.md"
)

# what is not prose: fenced code (a fence without a {directive}: the bodies
# of admonitions, exercises and solutions are prose), inline code, math,
# links' targets
_NOT_PROSE = re.compile(
    r"^```(?!\{).*?^```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$|\]\([^)]*\)",
    re.S | re.M,
)
# directives whose body is the point: an admonition with nothing in it
_BODIED = ("admonition", "note", "warning", "tip", "important", "exercise")
_DIRECTIVE = re.compile(r"^```\{([a-z-]+)\}[^\n]*\n(.*?)^```", re.S | re.M)
# all-caps words joined by underscores (4_PARAGRAPH, SOME_THING), markers
_PLACEHOLDER = re.compile(
    r"\b\d*_?[A-Z]{2,}(?:_[A-Z0-9]+)+\b|\b\d+_[A-Z]{2,}\b"
    r"|\b(?:TODO|FIXME|TBD|XXX)\b"
)
_EMPTY_HEADING = re.compile(r"^#{1,6}\s*$", re.M)


def prose(path: Path) -> list[tuple[str, str]]:
    """(where, text) for every markdown unit of a page."""
    if path.suffix == ".md":
        return [(path.name, path.read_text())]
    cells = json.loads(path.read_text())["cells"]
    return [
        (f"{path.name} cell {i}", "".join(c["source"]))
        for i, c in enumerate(cells)
        if c["cell_type"] == "markdown"
    ]


def empty_directives(text: str) -> list[str]:
    """Admonitions and exercises whose body (options aside) is empty."""
    found = []
    for m in _DIRECTIVE.finditer(text):
        name, body = m.group(1), m.group(2)
        lines = [ln for ln in body.splitlines() if not ln.startswith(":")]
        if name in _BODIED and not "".join(lines).strip():
            found.append(f"empty {name}")
    return found


def placeholders(text: str) -> list[str]:
    found_empty = empty_directives(text)
    text = _NOT_PROSE.sub(" ", text)
    found = [m.group(0) for m in _PLACEHOLDER.finditer(text)]
    found += ["lorem ipsum"] * len(re.findall("lorem ipsum", text, re.I))
    found += ["empty heading"] * len(_EMPTY_HEADING.findall(text))
    return found + found_empty


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_no_placeholder_text(path):
    bad = [
        (where, hit)
        for where, text in prose(path)
        for hit in placeholders(text)
    ]
    assert not bad, f"placeholder text on the page: {bad[:5]}"


def test_the_check_can_fail():
    assert placeholders("4_PARAGRAPH\n\nText") == ["4_PARAGRAPH"]
    assert placeholders("see SOME_THING here") == ["SOME_THING"]
    assert placeholders("TODO: write") == ["TODO"]
    assert placeholders("##\n") == ["empty heading"]
    assert placeholders("use `ATTNLIB_STATIC=1` and $W_Q$") == []
    # inside an admonition the text is prose; inside a code fence it is not
    note = "```{note}\nTBD later\n```\n"
    assert placeholders(note) == ["TBD"]
    assert placeholders("```python\nX_Y_Z = 1\n```\n") == []
    assert placeholders("```{admonition} Title\n:class: tip\n```\n") == [
        "empty admonition"
    ]
    assert placeholders("```{exercise}\n:label: a\n\n```\n") == [
        "empty exercise"
    ]
    assert placeholders("```{note}\nA body.\n```\n") == []
