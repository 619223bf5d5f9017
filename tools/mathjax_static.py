"""Copy MathJax 3 out of an installed Python package, so the book renders math
offline.

The built HTML would otherwise load MathJax from a CDN: a reader without
internet sees raw LaTeX, and the browser check (`make check-html`) sees a
failed request on every page. The `django-static-mathjax` package ships MathJax
3's browser build (Apache-2.0); the Makefile installs it ``--no-deps`` (we use
only its files, never Django) and runs this script before every build. Sphinx
then copies the folder into ``_static`` (``html_static_path`` in
``_config.yml``) and loads ``_static/mathjax/tex-chtml.js`` (``mathjax_path``).

Usage: python tools/mathjax_static.py DEST
(e.g. _build/static; writes DEST/mathjax/...)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DIST = "django-static-mathjax"
# the TeX-input, HTML-output bundle and what it loads on demand (fonts, TeX
# extensions, menu)
KEEP = ("tex-chtml.js", "output/chtml", "input/tex", "ui", "a11y", "adaptors")


def es5_folder() -> Path:
    """MathJax's es5 folder inside the installed package (attnlib's lookup for
    data packages)."""
    from attnlib.data.packages import MissingResourceError, package_folder

    try:
        return package_folder(
            DIST,
            lambda f: f.endswith("es5/tex-chtml.js"),
            what="MathJax's files",
            expected="es5/tex-chtml.js",
            install_hint=f"pip install --no-deps {DIST}",
        )
    except MissingResourceError as err:
        sys.exit(str(err))


def main(dest: str) -> None:
    src = es5_folder()
    out = Path(dest) / "mathjax"
    if (out / "tex-chtml.js").is_file():
        return
    for item in KEEP:
        s, d = src / item, out / item
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir():
            shutil.copytree(s, d, dirs_exist_ok=True)
        else:
            shutil.copy2(s, d)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"MathJax copied to {out} ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
