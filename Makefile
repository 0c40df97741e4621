# owll: the course's commands. `make help` lists them; README.md explains them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.owll-installed
# The project's environment comes first, and its Jupyter data (the python3
# kernel) wins over a user-level kernelspec that may point at another Python.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export JUPYTER_PATH := $(CURDIR)/$(VENV)/share/jupyter
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# The numerical kernels (PyTorch, MKL, oneDNN, OpenBLAS, threads) are pinned by
# owll_helpers.numerics, called first by conftest.py, nbgrader_config.py and
# tools/*.py; PINNED runs any other command with the same pin.
PINNED := $(PYTHON) -m owll_helpers.numerics --

BUILD_SITE := $(VENV)/bin/jupyter-book build . --all -W -n --keep-going --quiet
DEST ?= ../owll-student

.PHONY: help env book site test notebooks lab bench dist publish clean

help:  ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PYTHON) -m pip check
	touch $(STAMP)

env: $(STAMP)  ## Create the environment .venv (if missing or out of date)

book: $(STAMP) site  ## Create the environment if missing, then build the website into _build/html

site: $(STAMP)
	$(BUILD_SITE)
	@echo "Website: file://$(CURDIR)/_build/html/index.html"

test: $(STAMP)  ## The whole suite: site build, nbval on the book, unit, science, HTML and browser tests
	@$(PYTHON) -m owll_helpers.numerics
	$(BUILD_SITE)
	$(PYTHON) -m pytest

notebooks: $(STAMP)  ## Re-execute every book notebook in place and store its outputs
	$(PYTHON) tools/execute_notebooks.py $$(find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)

lab: $(STAMP)  ## JupyterLab in the project environment (formgrader: manual grading)
	$(PINNED) $(VENV)/bin/jupyter lab

bench: $(STAMP)  ## Time each notebook, the site build and make test; write BENCHMARKS.md
	$(PYTHON) tools/bench.py

dist: $(STAMP)  ## Build the wheel of owll_helpers into dist/
	$(PYTHON) -m build --wheel --no-isolation --outdir dist .

publish: $(STAMP) site  ## Write the student repository to DEST (default ../owll-student)
	$(PYTHON) tools/publish.py "$(DEST)"

# The browser test (tests/test_browser.py) drives Debian's headless Chromium with
# its driver; installing them needs root (sudo when not root). Nothing to do when present.
CHROMIUM_PACKAGES := chromium chromium-driver
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: browser

browser:  ## Install headless Chromium and its driver for the browser test (apt-get; skipped when present)
	@if [ -x /usr/bin/chromedriver ] && [ -x /usr/bin/chromium ]; then \
	  echo "Chromium and its driver are installed: $$(/usr/bin/chromedriver --version)"; \
	else \
	  $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(CHROMIUM_PACKAGES); \
	fi

clean:  ## Remove build outputs (not the environment)
	rm -rf _build dist build *.egg-info owll_helpers.egg-info .pytest_cache

# ---------------------------------------------------------------- grading (nbgrader)
# Course data (gradebook, submissions, feedback) lives outside the repository.
export OWLL_COURSE_DATA ?= $(HOME)/.local/share/owll/course_data
ASSIGNMENT ?=
# Students autograded at a time (each in a process of its own); default: the cores.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
GRADE := $(PYTHON) tools/grade.py

.PHONY: exercises release collect autograde grades feedback bench-grading

exercises: $(STAMP)  ## Regenerate exercises/ from solutions/ (nbgrader generate_assignment --force)
	$(GRADE) exercises

release: $(STAMP)  ## Regenerate exercises/ and write dist/release/<assignment>.zip to upload
	$(GRADE) exercises --zip

collect: $(STAMP)  ## Bring submissions in: make collect ZIP=download.zip ASSIGNMENT=ch01_initialization
	@test -n "$(ZIP)" -a -n "$(ASSIGNMENT)" || { echo "usage: make collect ZIP=path/to/download.zip ASSIGNMENT=chNN_topic"; exit 2; }
	$(GRADE) collect "$(ZIP)" "$(ASSIGNMENT)"

autograde: $(STAMP)  ## Autograde every collected submission (or ASSIGNMENT=...), JOBS=N students at a time; write a summary
	$(GRADE) autograde $(ASSIGNMENT) --jobs $(JOBS)

grades: $(STAMP)  ## Export all grades, with each student's status, to $(OWLL_COURSE_DATA)/grades.csv
	$(GRADE) grades

feedback: $(STAMP)  ## Feedback HTML per student (hidden tests removed) in $(OWLL_COURSE_DATA)/feedback
	$(GRADE) feedback $(ASSIGNMENT)

bench-grading: $(STAMP)  ## Autograde 30 synthetic submissions serially and with JOBS=2; grading table in BENCHMARKS.md
	$(PYTHON) tools/bench.py --grading

# The hub test (tests/test_hub.py) runs a real JupyterHub: it needs configurable-http-proxy
# (npm's 4.x runs on Debian's node; 5.x needs a newer one; Debian's own package otherwise)
# and setfacl (the test lets its temporary accounts reach the course environment's Python).
# Installing needs root (sudo when not root). Nothing to do when present.
.PHONY: hub-tools

hub-tools:  ## Install what the JupyterHub test needs: configurable-http-proxy 4 and acl (apt-get/npm; skipped when present)
	@if command -v setfacl >/dev/null; then echo "setfacl is installed"; else \
	  $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y acl; fi
	@if command -v configurable-http-proxy >/dev/null; then \
	  echo "configurable-http-proxy is installed: $$(configurable-http-proxy --version)"; \
	elif command -v npm >/dev/null; then $(SUDO) npm install -g configurable-http-proxy@4; \
	else $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y node-configurable-http-proxy; fi
