# The two README commands: `make demo` and `make test`. Everything they need is
# installed here, into .venv/ (Python) and .tools/ (Azurite from npm).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench lint azurite clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test,dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

azurite:
	bash scripts/install-azurite.sh

demo: install
	$(BIN)/streamer demo

test: install azurite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not servers and not slow" $(PYTEST_ARGS)

bench: install azurite
	$(BIN)/python -m bench.run

lint: install
	$(BIN)/ruff check streamer tests
	$(BIN)/mypy streamer

clean:
	rm -rf $(VENV) .tools .data demo-out .pytest_cache
