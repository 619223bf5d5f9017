"""A small Sphinx extension for the book's HTML: drop duplicated inline
scripts, and link every page to the same page of the other edition
(English <-> 中文).

With Sphinx 7.4, an inline script that an extension registers after the builder
has started (sphinx-thebe's and sphinx-togglebutton's configuration lines)
reaches every page twice. The second copy of ``const THEBE_JS_URL = ...`` is a
JavaScript error on every page (found by ``make check-html``). This handler
keeps the first copy of each script, compared by file name, inline body and
attributes, and changes nothing else.
"""

from __future__ import annotations

import re
from pathlib import Path

# The Chinese edition is published under zh/ of the English one (make book);
# html_context["book_edition"] says which edition a build is.
EDITIONS = {
    "en": {
        "prefix": "zh/",
        "label": "中文",
        "lang": "zh-CN",
        "title": "切换到中文版（本页）",
    },
    "zh": {
        "prefix": "../",
        "label": "English",
        "lang": "en",
        "title": "Switch to the English edition of this page",
    },
}


def _key(script) -> tuple:
    filename = getattr(script, "filename", script)
    attributes = getattr(script, "attributes", {})
    return (
        filename or "",
        tuple(
            sorted(
                (k, str(v)) for k, v in attributes.items() if k != "priority"
            )
        ),
    )


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


# Interface strings that the themes leave in English under language zh_CN
# (tooltips and labels of the header; the rest comes from their catalogues)
UI_ZH = {
    "Color mode": "颜色模式",
    "Launch interactive content": "启动交互式笔记本",
    "Launch on Binder": "在 Binder 中启动",
    "Launch on Colab": "在 Colab 中启动",
    "Link to this heading": "链接到此标题",
    "Main": "主导航",
    "Page": "本页",
    "Print to PDF": "打印为 PDF",
    "列印成 PDF": "打印为 PDF",
    "Search this book...": "搜索本书……",
    "Source repositories": "源代码仓库",
    "System Settings": "跟随系统",
    "Toggle primary sidebar": "显示或隐藏目录栏",
    "Toggle secondary sidebar": "显示或隐藏本页目录",
}
UI_ATTRIBUTE = re.compile(
    r'(title|aria-label|placeholder|data-bs-title)="([^"]*)"'
)


def translate_interface(app, exception) -> None:
    """In the Chinese edition, put the interface strings above into Chinese
    in every written page."""
    if exception or app.config.html_context.get("book_edition") != "zh":
        return
    for path in Path(app.outdir).rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        new = UI_ATTRIBUTE.sub(
            lambda m: f'{m.group(1)}="{UI_ZH.get(m.group(2), m.group(2))}"',
            html,
        )
        if new != html:
            path.write_text(new, encoding="utf-8")


def other_edition(app, pagename, templatename, context, doctree) -> None:
    edition = EDITIONS[context.get("book_edition", "en")]
    up = "../" * pagename.count("/")
    context["book_other_edition"] = {
        **edition,
        "href": f"{up}{edition['prefix']}{pagename}.html",
    }


def add_switch(app, config) -> None:
    config.templates_path.append(str(Path(__file__).parent / "templates"))
    options = config.html_theme_options
    end = options.get("article_header_end", ["article-header-buttons.html"])
    if isinstance(end, str):
        end = [end]
    options["article_header_end"] = ["language-switch.html", *end]


def setup(app):
    app.connect("config-inited", add_switch)
    app.connect("html-page-context", other_edition)
    app.connect("build-finished", translate_interface)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {
        "version": "1.0",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
