# The two ways to start on a fresh machine: `make serve` and `make test` (CI runs `make test`).
VENV := .venv

.PHONY: serve test test-slow lint install install-test

# uv installs the wheels in parallel and compiles their bytecode on every core: the install step took
# 14-15 s here against 75-79 s with pip
# (docs/install.md). It reads PyPI, or the index UV_INDEX_URL names.
UV := $(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(VENV)/bin/python

$(VENV)/bin/uv:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q uv==0.13.10

install: $(VENV)/bin/uv
	$(UV) -e .
	# code_interpreter's sandboxes are bubblewrap jails (docs/code-interpreter.md).
	command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap)
	$(VENV)/bin/retrievd models pull

install-test: $(VENV)/bin/uv
	$(UV) -e '.[test]'
	command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap)
	# The console's browser tests drive Debian's Chromium (playwright never downloads a browser).
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(VENV)/bin/retrievd models pull

serve: install
	$(VENV)/bin/retrievd serve

test: install-test
	$(VENV)/bin/pytest -q

lint: install-test
	$(VENV)/bin/ruff check src tests bench

test-slow: install-test
	$(VENV)/bin/pytest -q -m slow
