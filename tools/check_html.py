"""Open every page of the built book in headless Chromium and check what a
reader would see.

    python tools/check_html.py [--html _build/html]
                               [--screenshots _build/screenshots]

Run by ``make check-html`` (after ``make book``). It serves the HTML on
localhost, blocks every request that leaves the machine (the book must not
need the internet to be read), and checks:

* every page: loads with no console error, no uncaught exception, no failed
  or external request; has a non-empty <title> that contains the page's H1;
  the search box is present;
* every chapter (a notebook page): at least one rendered figure (an image
  with a real size), the Colab and Binder launch buttons, every exercise and
  solution rendered by sphinx-exercise, every solution a collapsed dropdown
  that opens on a click, math typeset by MathJax, and no blank widget output
  (every widget view has drawn something);
* search: a query on the search page returns results.
* the Chinese edition (``zh/``, built by ``make book``): the same checks on
  every page, plus: the page is marked ``lang="zh-CN"`` and its text is
  Chinese; every Chinese character drawn on the page has a glyph (none is a
  missing-glyph box); Chinese search finds pages. On both editions the
  language switch of every page leads to the same page of the other one.
  Chromium gets a CJK font from the book's check environment (a Noto Sans
  CJK package, through a fontconfig file), as a reader's system provides one.

Full-page screenshots of three chapters go to ``--screenshots`` for a human
to look at. Chromium comes from the system (Debian's ``chromium`` package),
driven by Playwright with ``executable_path``: ``playwright install`` would
download a browser, which this book avoids.
Exit status: 0 all checks pass, 1 a check failed, 2 a tool is missing.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# each edition's folder, as seen from the English root
EDITIONS = {"": "en", "zh/": "zh"}
# a word every chapter of each edition uses, for the search check
SEARCH_QUERIES = {"en": "softmax", "zh": "注意力"}
SCREENSHOT_PAGES = (
    "chapters/02_attention_math",
    "chapters/03_transformer",
    "chapters/07_vision_attention",
)
INSTALL_HINT = (
    "make check-html needs Chromium: install it with "
    "`sudo apt-get install -y chromium` "
    "(Debian/Ubuntu) or point CHROMIUM=/path/to/chromium at one"
)


def find_chromium() -> str | None:
    for candidate in (
        os.environ.get("CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        "/usr/bin/chromium",
    ):
        if (
            candidate
            and Path(candidate).is_file()
            and os.access(candidate, os.X_OK)
        ):
            return candidate
    return None


def toc_pages(book: Path) -> list[str]:
    """Every page in _toc.yml, as paths without suffix ("intro",
    "chapters/01_why_attention", ...)."""
    import yaml

    toc = yaml.safe_load((book / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                pages.append(e["file"])
            walk(e.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


def cjk_font_environment() -> dict[str, str]:
    """A fontconfig file that adds the Noto Sans CJK font of the check's
    environment (the cvttf-notosanscjk-regular package, installed with
    playwright by make check-html) to the system's fonts."""
    import importlib.util

    spec = importlib.util.find_spec("cvttf_NotoSansCJK_Regular")
    if spec is None or not spec.submodule_search_locations:
        return {}
    folder = list(spec.submodule_search_locations)[0]
    conf = Path(tempfile.mkdtemp(prefix="book-fonts-")) / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n'
        "<fontconfig>\n"
        '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n'
        f"  <dir>{folder}</dir>\n"
        f"  <cachedir>{conf.parent}/cache</cachedir>\n"
        "</fontconfig>\n"
    )
    return {"FONTCONFIG_FILE": str(conf)}


def is_notebook(book: Path, page: str) -> bool:
    return (book / f"{page}.ipynb").is_file()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the report readable
        pass


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def check_page(
    page,
    base: str,
    name: str,
    notebook: bool,
    shots: Path | None,
    html: Path,
    edition: str = "en",
) -> list[str]:
    problems: list[str] = []
    host = urlparse(base).netloc

    def on_console(msg):
        if msg.type == "error":
            problems.append(f"console error: {msg.text[:200]}")

    def on_route(route):
        if urlparse(route.request.url).netloc != host:
            problems.append(
                f"external request blocked: {route.request.url[:120]}"
            )
            route.abort()
        else:
            route.continue_()

    page.on("console", on_console)
    page.on(
        "pageerror",
        lambda exc: problems.append(f"uncaught exception: {str(exc)[:200]}"),
    )
    page.on(
        "requestfailed",
        lambda req: (
            None
            if urlparse(req.url).netloc != host
            else problems.append(f"failed request: {req.url[:120]}")
        ),
    )
    page.route("**/*", on_route)
    response = page.goto(f"{base}/{name}.html", wait_until="load")
    if response is None or response.status != 200:
        return [
            f"page did not load "
            f"(status {None if response is None else response.status})"
        ]
    page.wait_for_load_state("networkidle")

    h1 = page.locator("main h1").first
    h1_text = h1.inner_text().replace("#", "").strip() if h1.count() else ""
    title = page.title()
    if not h1_text:
        problems.append("no H1 heading")
    elif h1_text not in title:
        problems.append(
            f"<title> {title!r} does not contain the H1 {h1_text!r}"
        )
    if (
        page.locator(
            "button.search-button, .search-button__button, "
            "form.bd-search, #search-input"
        ).count()
        == 0
    ):
        problems.append("no search box or button")

    if notebook:
        figures = page.eval_on_selector_all(
            ".cell_output img, .output img",
            "imgs => imgs.filter(i => i.complete && i.naturalWidth > 50"
            " && i.naturalHeight > 50).length",
        )
        if figures < 1:
            problems.append("no rendered figure")
        for target in ("colab.research.google.com", "mybinder.org"):
            if page.locator(f"a[href*='{target}']").count() == 0:
                problems.append(f"no launch button for {target}")
        exercises = page.locator("div.exercise").count()
        solutions = page.locator("div.solution")
        if exercises == 0 and "how_fast" not in name:
            problems.append("no exercise rendered")
        if solutions.count() < exercises and "how_fast" not in name:
            problems.append(
                f"{exercises} exercises but only {solutions.count()} solutions"
            )
        if solutions.count():
            problems += check_dropdown(page, solutions.first)
        raw_tex = page.eval_on_selector_all(
            ".math",
            "els => els.filter(e => !e.querySelector('mjx-container')).length",
        )
        if raw_tex:
            problems.append(f"{raw_tex} math blocks not typeset by MathJax")
        blank = page.eval_on_selector_all(
            ".jupyter-widgets, .widget-subarea, "
            ".cell_output script[type*='widget-view']",
            "els => els.filter(e => e.tagName === 'SCRIPT'"
            " || e.getBoundingClientRect().height < 5).length",
        )
        if blank:
            problems.append(f"{blank} widget outputs render blank")
        body_text = page.locator("main").inner_text()
        for phrase in ("could not be displayed", "Loading widget"):
            if phrase in body_text:
                problems.append(
                    f"a widget output shows {phrase!r} instead of a figure"
                )
        # open every dropdown: code and figures in solutions count too
        page.evaluate(
            "() => document.querySelectorAll('.toggle-hidden')"
            ".forEach(e => e.classList.remove('toggle-hidden'))"
        )
        page.wait_for_timeout(300)
        problems += check_figures(page, html)
    problems += check_overflow(page)
    problems += check_language_switch(page, name, html, edition)
    if edition == "zh":
        problems += check_chinese(page)
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        prefix = "" if edition == "en" else f"{edition}-"
        page.screenshot(
            path=str(shots / f"{prefix}{Path(name).name}.png"),
            full_page=True,
        )
    return problems


def check_language_switch(page, name: str, html: Path, edition: str):
    """The header's switch leads to the same page of the other edition."""
    link = page.locator("a.book-language-switch")
    if link.count() != 1:
        return [f"{link.count()} language switches (expected 1)"]
    href = link.get_attribute("href") or ""
    target = (html / name).parent.joinpath(href).resolve()
    expected = (
        html / "zh" / f"{name}.html"
        if edition == "en"
        else html / f"{name.removeprefix('zh/')}.html"
    ).resolve()
    if target != expected or not target.is_file():
        return [f"language switch leads to {href!r}, not the same page"]
    return []


# Whether each distinct CJK character of the page draws a glyph: a character
# the fonts lack is drawn as the same box as a private-use code point.
_GLYPHS_JS = """() => {
  const text = document.querySelector('main').innerText;
  const chars = [...new Set(text.match(/[\u4e00-\u9fff]/g) || [])];
  const canvas = document.createElement('canvas');
  canvas.width = 40; canvas.height = 40;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const font = getComputedStyle(document.querySelector('main')).fontFamily;
  const draw = c => {
    ctx.clearRect(0, 0, 40, 40);
    ctx.font = '28px ' + font;
    ctx.fillText(c, 4, 32);
    return ctx.getImageData(0, 0, 40, 40).data.join(',');
  };
  const missing = draw('\ue000');
  return {count: chars.length,
          boxes: chars.filter(c => draw(c) === missing).slice(0, 10)};
}"""


def check_chinese(page) -> list[str]:
    problems = []
    lang = page.evaluate("() => document.documentElement.lang")
    if lang != "zh-CN":
        problems.append(f"<html lang={lang!r}>, expected 'zh-CN'")
    glyphs = page.evaluate(_GLYPHS_JS)
    if glyphs["count"] < 20:
        problems.append(
            f"only {glyphs['count']} distinct Chinese characters on the page"
        )
    if glyphs["boxes"]:
        problems.append(
            f"Chinese characters drawn as missing-glyph boxes: "
            f"{''.join(glyphs['boxes'])} (no CJK font)"
        )
    return problems


# The window width the book is checked at: a common laptop screen.
VIEWPORT = {"width": 1280, "height": 900}

_OVERFLOW_JS = """els => els.filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => {
    const lines = e.innerText.split('\\n');
    const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
    return longest.trim().slice(0, 70);
  })"""

_FIGURES_JS = """imgs => imgs.map(i => ({
    src: i.getAttribute('src') || '',
    alt: i.getAttribute('alt') || '',
    shown: i.clientWidth,
    natural: i.naturalWidth,
    caption: (i.closest('figure')?.querySelector('figcaption')?.textContent
              || '').trim(),
    number: (i.closest('figure')?.querySelector('.caption-number')
             ?.textContent || '').trim(),
  }))"""


def check_overflow(page) -> list[str]:
    """No code cell, output or code block scrolls sideways in the column."""
    selectors = (
        "div.cell_input pre, div.cell_output pre, div.highlight pre,"
        " div.cell_output .output, div.cell_output table"
    )
    wide = page.eval_on_selector_all(selectors, _OVERFLOW_JS)
    return (
        [
            f"{len(wide)} code/output blocks overflow the column, first: "
            f"{wide[0]!r}"
        ]
        if wide
        else []
    )


def check_figures(page, html: Path) -> list[str]:
    """Every figure of a chapter has a numbered caption and alt text that
    says what it shows, and its text stays legible at the shown size."""
    from figure_lint import (
        COLUMN_PX,
        MIN_FONT_PT,
        alt_problem,
        illegible_texts,
    )

    problems = []
    column = page.evaluate(
        "() => { const o = document.querySelector('.cell_output');"
        " return o ? o.clientWidth : null; }"
    )
    if column is not None and column < COLUMN_PX:
        problems.append(
            f"the output column is {column} px wide, narrower than the "
            f"{COLUMN_PX} px that figure_lint.py assumes"
        )
    figures = page.eval_on_selector_all(".cell_output img", _FIGURES_JS)
    for fig in figures:
        where = fig["number"] or Path(fig["src"]).name
        if not fig["caption"] or not fig["number"]:
            problems.append(f"figure {where} has no numbered caption")
        bad_alt = alt_problem(fig["alt"])
        if bad_alt:
            problems.append(f"figure {where}: {bad_alt}")
        page_dir = html / Path(urlparse(page.url).path.lstrip("/")).parent
        svg_path = (page_dir / fig["src"].split("?")[0]).resolve()
        if svg_path.suffix == ".svg" and svg_path.is_file() and fig["shown"]:
            # scaled to the width it is shown at (the column, or less);
            # +1 px: the browser rounds the shown width to whole pixels
            small = illegible_texts(svg_path.read_text(), fig["shown"] + 1)
            if small:
                problems.append(
                    f"figure {where}: text below {MIN_FONT_PT:g} pt as "
                    f"shown ({fig['shown']} px wide): {', '.join(small[:3])}"
                )
    return problems


def check_dropdown(page, solution) -> list[str]:
    """A solution is a collapsed dropdown: its body is hidden until the
    reader clicks the toggle."""
    body = solution.locator(".solution-content, section").first
    title = solution.locator(".admonition-title").first
    if (
        body.count() == 0
        or title.count() == 0
        or solution.locator(".toggle-button").count() == 0
    ):
        return ["solution dropdown has no body or no toggle button"]
    if body.is_visible():
        return [
            "solution is visible before the reader opens it (not a dropdown)"
        ]
    # click the title bar, as a reader does (the whole bar is the toggle);
    # the chevron's inner <path> is not handled by sphinx-togglebutton
    # 0.4.5's click handler, so do not aim at it
    title.click(position={"x": 8, "y": 8})
    page.wait_for_timeout(400)
    return (
        []
        if body.is_visible()
        else ["solution dropdown does not open on a click"]
    )


def check_search(browser, base: str, query: str) -> list[str]:
    """The search page, asked for a word every chapter uses, lists results."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page()
    try:
        page.goto(f"{base}/search.html?q={query}", wait_until="load")
        try:
            page.wait_for_selector(
                "#search-results ul.search li", timeout=15000
            )
        except PlaywrightTimeout:
            pass
        found = page.locator("#search-results ul.search li").count()
    finally:
        page.close()
    return [] if found else [f"search for {query!r} returned no results"]


def require_browser(target: str):
    """``(chromium_path, sync_playwright)``, or None after saying on stderr
    what ``make TARGET`` needs (Chromium from the system, playwright)."""
    chromium = find_chromium()
    if chromium is None:
        print(INSTALL_HINT.replace("check-html", target), file=sys.stderr)
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print(
            f"make {target} needs the playwright package: run "
            f"`make {target}` (it installs it) or pip install playwright",
            file=sys.stderr,
        )
        return None
    return chromium, sync_playwright


def main(argv: list[str] | None = None) -> int:
    # the docstring's first sentence (it spans two lines)
    summary = " ".join(__doc__.split("\n\n")[0].split())
    parser = argparse.ArgumentParser(description=summary)
    parser.add_argument("--html", default="_build/html")
    parser.add_argument("--book", default=".")
    parser.add_argument("--screenshots", default="_build/screenshots")
    args = parser.parse_args(argv)

    found = require_browser("check-html")
    if found is None:
        return 2
    chromium, sync_playwright = found
    html, book = Path(args.html), Path(args.book)
    if not (html / "index.html").is_file():
        print(
            f"no built book in {html}: run `make book` first", file=sys.stderr
        )
        return 2

    pages = toc_pages(book)
    if not (html / "zh" / "index.html").is_file():
        print(f"no Chinese edition in {html}/zh: run `make book`")
        return 2
    checks = [
        (prefix + name, edition, name)
        for prefix, edition in EDITIONS.items()
        for name in pages
    ]
    server, base = serve(html)
    failures = 0

    def report(name: str, problems: list[str]) -> None:
        nonlocal failures
        failures += bool(problems)
        print(f"{'ok  ' if not problems else 'FAIL'} {name}")
        for p in dict.fromkeys(problems):
            print(f"       {p}")

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium,
                headless=True,
                args=CHROMIUM_FLAGS,
                env={**os.environ, **cjk_font_environment()},
            )
            for name, edition, source in checks:
                page = browser.new_page(viewport=VIEWPORT)
                shots = (
                    Path(args.screenshots)
                    if source in SCREENSHOT_PAGES
                    else None
                )
                try:
                    problems = check_page(
                        page,
                        base,
                        name,
                        is_notebook(book, source),
                        shots,
                        html,
                        edition,
                    )
                finally:
                    page.close()
                report(name, problems)
            for prefix, edition in EDITIONS.items():
                query = SEARCH_QUERIES[edition]
                root = f"{base}/{prefix}".rstrip("/")
                report(f"{prefix}search", check_search(browser, root, query))
            browser.close()
    finally:
        server.shutdown()
    total = len(checks) + len(EDITIONS)
    print(
        f"\n{total - failures}/{total} checks passed; screenshots of "
        f"{len(SCREENSHOT_PAGES)} chapters per edition in {args.screenshots}/"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
