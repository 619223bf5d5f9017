"""The Chinese edition stays in step with the English (tools/i18n.py).

Every English unit (a notebook's markdown cell, a markdown page's section, a
toc caption) has a current Chinese translation; the translations keep the
English's math, code, labels and references; the pages use the glossary's
Chinese terms; and the Chinese notebooks under zh/ hold exactly the English
code cells (only a figure's caption and alt text, prose kept in the cell's
metadata, are translated). Each check is also fed a broken case to show
that it can fail.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import i18n  # noqa: E402

PAGES = i18n.pages()
NOTEBOOKS = [p for p in i18n.toc_pages() if p.endswith(".ipynb")]


@pytest.mark.parametrize("page", PAGES)
def test_every_unit_has_a_current_translation(page):
    problems = i18n.problems(page)
    assert not problems, (
        f"{len(problems)} problem(s) with the Chinese edition of {page} "
        "(see locales/TRANSLATING.md; make zh syncs the catalogues):\n"
        + "\n".join(problems)
    )


@pytest.mark.parametrize("page", PAGES)
def test_pages_use_the_glossary_terms(page):
    problems = i18n.terminology_problems(page)
    assert not problems, "\n".join(problems)


def test_glossary_rows_pair_english_and_chinese_terms():
    terms = i18n.terms()
    assert len(terms) > 100
    english = [t.english.lower() for t in terms]
    assert len(set(english)) == len(english), "one Chinese term per concept"
    chinese = {t.chinese for t in terms}
    variants = {v for t in terms for v in t.variants}
    assert not variants & chinese, "a variant is also a chosen term"


@pytest.mark.parametrize("page", NOTEBOOKS)
def test_chinese_notebook_has_the_english_code(page):
    english = json.loads((ROOT / page).read_text(encoding="utf-8"))
    path = i18n.ZH / page
    assert path.exists(), f"{path} is missing: run make zh"
    chinese = json.loads(path.read_text(encoding="utf-8"))
    assert chinese["metadata"] == english["metadata"]
    assert [c["id"] for c in chinese["cells"]] == [
        c["id"] for c in english["cells"]
    ]
    for en, zh in zip(english["cells"], chinese["cells"]):
        assert zh["cell_type"] == en["cell_type"]
        if en["cell_type"] == "code":
            # the same code and metadata; only the figure's caption and alt
            # text (prose) are translated
            assert (
                zh["source"],
                i18n.without_figure_text(zh["metadata"]),
            ) == (
                en["source"],
                i18n.without_figure_text(en["metadata"]),
            ), f"{path}: code cell {en['id']!r} differs from {page}"
            assert zh["outputs"] == [], f"{path}: stored with outputs"


def test_generated_chinese_files_are_up_to_date():
    stale = [
        str(path.relative_to(ROOT))
        for path, text in i18n.committed_files().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"out of date, run make zh: {stale}"


# --- the checks can fail ---------------------------------------------------


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A copy of one chapter, its catalogue and the glossary, where the
    tests may change the English or the Chinese."""
    page = "chapters/04_bert.ipynb"
    for rel in (page, "glossary.md", "_toc.yml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    catalogue = tmp_path / "locales" / i18n.LOCALE
    monkeypatch.setattr(i18n, "ROOT", tmp_path)
    monkeypatch.setattr(i18n, "CATALOGUES", catalogue)
    source = ROOT / "locales" / i18n.LOCALE / "chapters/04_bert.po"
    (catalogue / "chapters").mkdir(parents=True)
    shutil.copy(source, catalogue / "chapters/04_bert.po")
    return tmp_path, page


def _edit_english(root: Path, page: str, cell_id: str, old: str, new: str):
    path = root / page
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["id"] == cell_id)
    text = "".join(cell["source"])
    assert old in text
    cell["source"] = text.replace(old, new, 1)
    path.write_text(json.dumps(nb), encoding="utf-8")


def _prose_unit(page: str) -> i18n.Unit:
    # the first paragraph-like unit with a sentence to change
    return next(u for u in i18n.units(page) if ". " in u.text)


def test_a_changed_english_sentence_is_reported_by_page_and_cell(sandbox):
    root, page = sandbox
    assert i18n.problems(page) == []
    unit = _prose_unit(page)
    sentence = unit.text.split(". ")[1]
    _edit_english(root, page, unit.key, sentence, sentence + " (edited)")
    found = i18n.problems(page)
    assert len(found) == 1
    assert found[0].startswith(f"{page}, {unit.label}: the English changed")
    # after update the unit is fuzzy, still reported, still naming the cell
    i18n.update(page)
    found = i18n.problems(page)
    assert len(found) == 1 and "fuzzy" in found[0] and unit.label in found[0]
    entry = next(e for e in i18n.load(page) if e.msgctxt == unit.key)
    assert entry.previous_msgid == unit.text  # the old English, for review


def test_missing_stale_and_untranslated_units_are_reported(sandbox):
    root, page = sandbox
    po = i18n.load(page)
    units = [u for u in i18n.units(page) if i18n.needs_words(u.text)]
    first, second = units[0], units[1]
    po.remove(next(e for e in po if e.msgctxt == first.key))
    next(e for e in po if e.msgctxt == second.key).msgstr = ""
    po.append(i18n.polib.POEntry(msgctxt="gone", msgid="x", msgstr="某"))
    i18n.save(page, po)
    found = "\n".join(i18n.problems(page))
    assert f"{first.label}: no translation" in found
    assert f"{second.label}: untranslated" in found
    assert "'gone', which is no longer on the page" in found


def test_broken_math_code_and_references_are_reported():
    english = "Scale by $\\sqrt{d_k}$, call `sdpa`, see {numref}`fig-a`."
    good = "用 $\\sqrt{d_k}$ 缩放，调用 `sdpa`，见 {numref}`fig-a`。"
    assert i18n.structure_problems(english, good) == []
    bad = "用 $\\sqrt{d}$ 缩放，调用 sdpa，见 {numref}`fig-b`。"
    found = "\n".join(i18n.structure_problems(english, bad))
    for what in ("math", "inline code", "reference targets"):
        assert what in found


def test_terminology_check_reports_a_variant_and_a_missing_term(sandbox):
    root, page = sandbox
    assert i18n.terminology_problems(page) == []
    po = i18n.load(page)
    for entry in po:
        entry.msgstr = entry.msgstr.replace("自注意力", "自我注意力")
    i18n.save(page, po)
    found = "\n".join(i18n.terminology_problems(page))
    assert "'自我注意力', a variant the glossary rules out" in found
    assert "does not appear" in found  # 自注意力 is gone from the page
