# Two entry points: `make run` and `make test`. Both create the virtualenv and install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

install: $(STAMP)

# On an empty database `carepath run` loads the demo region, pathways and cohort first.
run: $(STAMP)
	$(BIN)/carepath run

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
