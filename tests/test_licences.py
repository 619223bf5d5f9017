"""Licence files exist; the data licences page says what the loaders say."""

from __future__ import annotations

import re
from pathlib import Path

from attnlib.data import recsys, series

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "licences.md").read_text()


def test_licence_files_and_citation():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "CC BY 4.0" in (ROOT / "LICENSE-CONTENT.md").read_text()
    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(r"^cff-version: 1\.2\.0$", cff, re.M)
    assert re.search(r"^license: MIT$", cff, re.M)
    assert re.search(
        r"^license = \"MIT\"$", (ROOT / "pyproject.toml").read_text(), re.M
    )


def test_the_page_is_in_the_book():
    assert "file: licences" in (ROOT / "_toc.yml").read_text()


def test_every_series_licence_is_on_the_page():
    for name in series.SERIES:
        licence = series.load_series(name).licence
        for part in re.findall(r"public domain|CC BY-NC 4\.0|GPL-3", licence):
            assert part in PAGE, (name, part)


def test_movielens_terms_are_on_the_page():
    for phrase in ("no redistribution", "research"):
        assert phrase in recsys.MOVIELENS_LICENCE
        assert phrase in PAGE


def test_binder_installs_the_cpu_torch_and_the_data():
    req = (ROOT / "binder" / "requirements.txt").read_text()
    assert "whl/cpu" in req and "-r ../requirements.txt" in req
    torch_pin = re.search(r"^torch==(\S+)$", req, re.M)
    make_pin = re.search(
        r"^TORCH\s+\?= torch==(\S+)$", (ROOT / "Makefile").read_text(), re.M
    )
    assert torch_pin and make_pin and torch_pin[1] == make_pin[1]
    post = (ROOT / "binder" / "postBuild").read_text()
    data = re.search(
        r"^DATA_PKGS \?= (.+)$", (ROOT / "Makefile").read_text(), re.M
    )[1]
    assert "--no-deps " + data in post
