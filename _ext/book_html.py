"""A small Sphinx extension for the book's HTML: drop duplicated inline
scripts.

With Sphinx 7.4, an inline script that an extension registers after the builder
has started (sphinx-thebe's and sphinx-togglebutton's configuration lines)
reaches every page twice. The second copy of ``const THEBE_JS_URL = ...`` is a
JavaScript error on every page (found by ``make check-html``). This handler
keeps the first copy of each script, compared by file name, inline body and
attributes, and changes nothing else.
"""

from __future__ import annotations


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


def setup(app):
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {
        "version": "1.0",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
