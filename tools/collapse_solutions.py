"""Collapse every worked solution in the chapter notebooks.

The HTML book shows a solution in a closed dropdown (``solution-start`` …
``solution-end``), but Jupyter and Colab ignore that directive and would show
the answer open right under the exercise. This marks every cell between the
two markers as collapsed where the notebook front-ends look:

* ``metadata.jupyter.source_hidden`` (JupyterLab and Notebook 7 collapse the
  cell's input, markdown included);
* for code cells also ``metadata.cellView = "form"`` and a first line
  ``# @title Worked solution`` (Colab shows the title and hides the code).

The cells still run top to bottom, so executing a notebook still proves every
solution. Idempotent: ``python tools/collapse_solutions.py chapters/*.ipynb``;
``--check`` lists cells that are not collapsed and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

TITLE = "# @title Worked solution"


def solution_cells(nb) -> list:
    """The cells strictly between ``solution-start`` and ``solution-end``."""
    out, inside = [], False
    for cell in nb.cells:
        text = cell.source.lstrip()
        if cell.cell_type == "markdown" and text.startswith(
            "```{solution-start}"
        ):
            inside = True
        elif cell.cell_type == "markdown" and text.startswith(
            "```{solution-end}"
        ):
            inside = False
        elif inside:
            out.append(cell)
    return out


def is_collapsed(cell) -> bool:
    if not cell.metadata.get("jupyter", {}).get("source_hidden"):
        return False
    if cell.cell_type == "code":
        first = cell.source.splitlines()[0] if cell.source else ""
        return cell.metadata.get("cellView") == "form" and first == TITLE
    return True


def collapse(cell) -> None:
    cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
    if cell.cell_type == "code":
        cell.metadata["cellView"] = "form"
        if not cell.source.startswith(TITLE):
            cell.source = f"{TITLE}\n{cell.source}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    bad = 0
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in solution_cells(nb) if not is_collapsed(c)]
        if args.check:
            for cell in cells:
                bad += 1
                print(f"{path}: solution not collapsed: {cell.source[:60]!r}")
        elif cells:
            for cell in cells:
                collapse(cell)
            nbformat.write(nb, path)
            print(f"{path}: collapsed {len(cells)} solution cells")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
