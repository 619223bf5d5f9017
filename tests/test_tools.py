"""The book's build helpers: the HTML script de-duplication and the browser
check's page list."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "_ext"), str(ROOT / "tools")]

import book_html  # noqa: E402
import check_html  # noqa: E402


def js(filename, priority=500, **attributes):
    return SimpleNamespace(
        filename=filename,
        priority=priority,
        attributes={"priority": priority, **attributes},
    )


def test_dedupe_scripts_keeps_the_first_copy_in_order():
    scripts = [
        js("a.js"),
        js(None, body="const X = 1"),
        js("", body="const X = 1", priority=200),
        js("b.js"),
        js("a.js"),
        js(None, body="const Y = 2"),
    ]
    context = {"script_files": scripts}
    book_html.dedupe_scripts(None, "p", "page.html", context, None)
    assert [
        (s.filename or "", s.attributes.get("body"))
        for s in context["script_files"]
    ] == [
        ("a.js", None),
        ("", "const X = 1"),
        ("b.js", None),
        ("", "const Y = 2"),
    ]


def test_dedupe_scripts_ignores_pages_without_scripts():
    context = {}
    book_html.dedupe_scripts(None, "p", "page.html", context, None)
    assert context == {}


def test_toc_pages_lists_every_chapter_once():
    pages = check_html.toc_pages(ROOT)
    assert pages[0] == "intro"
    chapters = sorted(
        p.relative_to(ROOT).with_suffix("").as_posix()
        for p in (ROOT / "chapters").glob("*.ipynb")
    )
    assert set(chapters) <= set(pages), set(chapters) - set(pages)
    assert len(pages) == len(set(pages))
    assert all(
        (ROOT / f"{p}.md").is_file() or (ROOT / f"{p}.ipynb").is_file()
        for p in pages
    )


def test_language_switch_links_the_same_page_of_the_other_edition():
    def href(pagename, **context):
        book_html.other_edition(None, pagename, None, context, None)
        return context["book_other_edition"]["href"]

    assert href("intro") == "zh/intro.html"
    assert href("chapters/01_why_attention") == (
        "../zh/chapters/01_why_attention.html"
    )
    assert href("chapters/01_why_attention", book_edition="zh") == (
        "../../chapters/01_why_attention.html"
    )
    assert href("search", book_edition="zh") == "../search.html"
