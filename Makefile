# Two entry points: `make run` and `make test`. Both create the virtualenv, install what they need
# and build the front-end bundles (npm packages, bundled with esbuild; nothing is fetched at run time).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FRONT  := webui/frontend
BUNDLE := webui/static/dist/.built

.PHONY: run test test-sqlite test-postgres bench bench-quick install frontend system clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

$(FRONT)/node_modules/.package-lock.json: $(FRONT)/package.json $(FRONT)/package-lock.json
	cd $(FRONT) && npm ci --no-audit --no-fund --loglevel=error

$(BUNDLE): $(FRONT)/node_modules/.package-lock.json $(FRONT)/build.mjs $(shell find $(FRONT)/src -type f)
	cd $(FRONT) && node build.mjs
	touch $(BUNDLE)

install: $(STAMP) $(BUNDLE)
frontend: $(BUNDLE)

# PostgreSQL, Redis and Chromium for the suite's real servers and browser (apt-get as root).
system:
	bash .ci/system-deps

# On an empty database `carepath run` loads the demo region, pathways and cohort first.
run: install
	$(BIN)/carepath run

# The whole suite on SQLite, then every test that uses a database again on PostgreSQL.
test: install system
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	CAREPATH_TEST_BACKEND=postgresql $(BIN)/python -m pytest $(PYTEST_ARGS)

test-sqlite: install system
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: install system
	CAREPATH_TEST_BACKEND=postgresql $(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info webui/static/dist $(FRONT)/node_modules

# Benchmarks (bench/README.md): figures to bench/results.json and bench/results.md.
bench: install system
	$(BIN)/carepath bench

bench-quick: install system
	$(BIN)/carepath bench --quick
