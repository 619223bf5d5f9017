"""The chapters' shared conventions: the hidden install cell (the Colab path)
and one H1 each."""

from __future__ import annotations

import builtins
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import collapse_solutions  # noqa: E402

NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def repository_url() -> str:
    match = re.search(
        r"^repository:\s*\n\s+url:\s*(\S+)",
        (ROOT / "_config.yml").read_text(),
        re.M,
    )
    assert match, "_config.yml has no repository url"
    return match.group(1)


def makefile_data_packages() -> list[str]:
    match = re.search(
        r"^DATA_PKGS \?= (.+)$", (ROOT / "Makefile").read_text(), re.M
    )
    assert match, "Makefile has no DATA_PKGS line"
    return match.group(1).split()


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 12


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_is_the_hidden_install_cell(path):
    first, canonical = cells(path)[0], cells(NOTEBOOKS[0])[0]
    assert first["cell_type"] == "code"
    assert "remove-cell" in first["metadata"].get("tags", []), (
        "the install cell must be hidden"
    )
    assert source(first) == source(canonical), (
        "every chapter shares one install cell"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_h1(path):
    h1 = [
        line
        for c in cells(path)
        if c["cell_type"] == "markdown"
        for line in source(c).splitlines()
        if line.startswith("# ")
    ]
    assert len(h1) == 1, h1


def run_install_cell(monkeypatch, env: dict[str, str]) -> list[list[str]]:
    """Execute the install cell as if attnlib were missing; return the commands
    it would run."""
    calls: list[list[str]] = []
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "attnlib" or name.startswith("attnlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(
        subprocess,
        "check_call",
        lambda cmd, **kw: calls.append(list(cmd)) or 0,
    )
    for k in ("ATTNLIB_SOURCE",):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    exec(compile(source(cells(NOTEBOOKS[0])[0]), "install-cell", "exec"), {})
    return calls


def test_install_cell_installs_from_the_repository_with_the_data(monkeypatch):
    calls = run_install_cell(monkeypatch, {})
    assert len(calls) == 2
    assert calls[0][-1] == f"attnlib[book] @ git+{repository_url()}"
    assert (
        calls[1][-len(makefile_data_packages()) :] == makefile_data_packages()
    )
    assert "--no-deps" in calls[1]


def test_install_cell_source_can_be_overridden(monkeypatch):
    calls = run_install_cell(
        monkeypatch, {"ATTNLIB_SOURCE": "file:///tmp/clone"}
    )
    assert calls[0][-1] == "attnlib[book] @ file:///tmp/clone"


def test_install_cell_does_nothing_when_attnlib_is_installed(monkeypatch):
    calls: list = []
    monkeypatch.setattr(
        subprocess, "check_call", lambda cmd, **kw: calls.append(cmd)
    )
    exec(compile(source(cells(NOTEBOOKS[0])[0]), "install-cell", "exec"), {})
    assert calls == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_fits_the_column(path):
    """Code lines as the reader sees them (ruff does not count a trailing
    ``# noqa`` towards a line's length; the page does)."""
    long = [
        (i, line)
        for i, c in enumerate(cells(path))
        if c["cell_type"] == "code"
        for line in source(c).splitlines()
        if len(line) > 79
    ]
    assert not long, f"cells with lines over 79 characters: {long[:3]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solutions_are_collapsed_in_jupyter_and_colab(path):
    """A worked solution is closed in Jupyter and Colab too, not only in the
    HTML dropdown (fix: python tools/collapse_solutions.py chapters/*)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    open_cells = [
        c.source[:60]
        for c in collapse_solutions.solution_cells(nb)
        if not collapse_solutions.is_collapsed(c)
    ]
    assert not open_cells, f"{path.name}: open solution cells {open_cells}"


def test_the_collapse_check_can_fail(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook(
        cells=[
            new_markdown_cell("```{exercise} E\n:label: e\n\nDo it.\n```"),
            new_markdown_cell("```{solution-start} e\n:class: dropdown\n```"),
            new_markdown_cell("The idea."),
            new_code_cell("answer = 42"),
            new_markdown_cell("```{solution-end}\n```"),
            new_code_cell("assert answer == 42"),
        ]
    )
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    assert (
        collapse_solutions.main([str(path), "--check"]) == 1
    )  # both cells open
    assert collapse_solutions.main([str(path)]) == 0
    assert collapse_solutions.main([str(path)]) == 0  # idempotent
    after = nbformat.read(path, as_version=4)
    assert collapse_solutions.main([str(path), "--check"]) == 0
    assert after.cells[3].source == f"{collapse_solutions.TITLE}\nanswer = 42"
    assert after.cells[2].metadata["jupyter"]["source_hidden"]
    assert "source_hidden" not in after.cells[5].metadata.get("jupyter", {})
    after.cells[3].metadata.pop("cellView")  # Colab would show the code
    nbformat.write(after, path)
    assert collapse_solutions.main([str(path), "--check"]) == 1


def toc_chapters() -> dict[str, list[Path]]:
    """Each numbered chapter or appendix of _toc.yml with its section pages
    (the reference pages, without exercises, are left out)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters = {}
    for part in toc["parts"]:
        if part.get("caption") == "Reference":
            continue
        for entry in part["chapters"]:
            files = [entry["file"]] + [
                s["file"] for s in entry.get("sections", [])
            ]
            chapters[entry["file"]] = [ROOT / f"{f}.ipynb" for f in files]
    return chapters


def exercise_problems(paths: list[Path]) -> list[str]:
    """What keeps the pages from the house rule: at least four exercises,
    one of them a challenge, each with a worked solution."""
    text = "\n".join(source(c) for path in paths for c in cells(path))
    found = re.findall(  # (title, label) of every exercise
        r"^```\{exercise\}\s*(.*)\n(?::\w+:.*\n)*?:label:\s*(\S+)", text, re.M
    )
    solved = set(re.findall(r"^```\{solution-start\}\s*(\S+)", text, re.M))
    problems = []
    if len(found) < 4:
        problems.append(f"only {len(found)} exercises")
    if not any("Challenge:" in title for title, _ in found):
        problems.append("no exercise titled '... Challenge: ...'")
    unsolved = [label for _, label in found if label not in solved]
    if unsolved:
        problems.append(f"exercises without a solution {unsolved}")
    return problems


@pytest.mark.parametrize(
    "chapter, paths",
    [
        pytest.param(c, p, id=Path(c).stem)
        for c, p in sorted(toc_chapters().items())
    ],
)
def test_every_chapter_has_four_exercises_and_a_challenge(chapter, paths):
    assert not exercise_problems(paths), chapter


def test_the_exercise_check_can_fail(tmp_path):
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    ex = "```{exercise} %s\n:nonumber:\n:label: %s\n\nDo it.\n```"
    nb = new_notebook(
        cells=[new_markdown_cell(ex % ("E", f"e{i}")) for i in range(3)]
        + [new_markdown_cell("```{solution-start} e0\n```")]
    )
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    assert exercise_problems([path]) == [
        "only 3 exercises",
        "no exercise titled '... Challenge: ...'",
        "exercises without a solution ['e1', 'e2']",
    ]
    assert len(toc_chapters()) >= 13  # twelve chapters and the appendix
