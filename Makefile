# Two commands do everything: `make demo` runs the main job on the embedded broker and PostgreSQL,
# `make test` runs the lint (ruff, mypy, import contracts) and the whole suite (unit and integration, against the
# real broker and PostgreSQL).
# Each creates the virtual environment, installs the project and starts what it needs.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint unit integration up schemas clean distclean prerequisites bench bench-payments

demo: $(STAMP) prerequisites
	$(BIN)/billing demo

test: $(STAMP) prerequisites lint
	$(BIN)/python -m pytest

# Style, types and the architecture's import rules (docs/development.md); seconds, so every test run starts with it.
lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP) prerequisites
	$(BIN)/python -m pytest tests/integration

up: $(STAMP) prerequisites
	$(BIN)/billing up

# The issue 3 benchmark: 100,000 accounts, 1,000,000 usage events; writes tools/bench/results.json and .png.
# Smaller: make bench BENCH_ARGS="--events 100000 --accounts 10000"
# Then the issue 13 one: 100,000 payments applied by one worker; writes tools/bench/payments_results.json.
bench: $(STAMP) $(VENV)/.installed-bench prerequisites
	$(BIN)/python -m tools.bench $(BENCH_ARGS)
	$(BIN)/python -m tools.bench.payments

bench-payments: $(STAMP) $(VENV)/.installed-bench prerequisites
	$(BIN)/python -m tools.bench.payments

$(VENV)/.installed-bench: $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet --editable '.[test,bench]'
	@touch $@

schemas: $(STAMP)
	$(BIN)/billing schemas export build/schemas

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	@touch $(STAMP)

# The embedded default needs PostgreSQL's server binaries; install Debian's when they are missing and we may.
prerequisites:
	@pg_config --bindir >/dev/null 2>&1 && test -x "$$(pg_config --bindir)/postgres" || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing PostgreSQL server binaries (postgresql-15)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null; \
	  else \
	    echo "error: PostgreSQL server binaries not found: install postgresql-15 or set DATABASE_URL"; exit 2; \
	  fi; }
	@# The retention report test screenshots the HTML report in headless Chromium; the desk's browser tests use it.
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Chromium (for the HTML report screenshot test)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "error: chromium not found: install Debian's chromium (the retention report test needs it)"; exit 2; \
	  fi; }
	@# The desk's browser tests drive that Chromium through Debian's chromedriver (Selenium; no browser download).
	@test -x /usr/bin/chromedriver || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium-driver (for the desk's browser tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-driver >/dev/null; \
	  else \
	    echo "error: /usr/bin/chromedriver not found: install Debian's chromium-driver (the desk's browser tests need it)"; exit 2; \
	  fi; }

clean:
	rm -rf .billing build .pytest_cache .hypothesis .mypy_cache .ruff_cache .import_linter_cache

distclean: clean
	rm -rf $(VENV) *.egg-info
