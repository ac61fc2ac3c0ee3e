# The two README commands: `make demo` and `make test`. Everything they need is
# installed here, into .venv/ (Python, exactly the versions in requirements/*.lock, checked
# by hash) and .tools/ (Azurite from npm, promtool from Debian's prometheus package).
# Changed a dependency in pyproject.toml? Run `make lock` and commit requirements/*.lock.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCKS  := requirements/runtime.lock requirements/dev.lock
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCKS) 2>/dev/null | cksum | cut -d' ' -f1)
PIP    := $(BIN)/python -m pip install -q --disable-pip-version-check
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes \
	--python-version 3.11 --custom-compile-command "make lock"
PYTEST_ARGS ?=
TEST_WORKERS ?= 2

.PHONY: install lock demo test test-fast bench lint azurite promtool chromium ci clean bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Every transitive dependency comes from the lock (--require-hashes); the project itself
# is then installed editable without resolving anything again.
$(STAMP): pyproject.toml $(LOCKS) | $(BIN)/python
	$(PIP) --require-hashes --no-deps -r requirements/dev.lock
	$(PIP) --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# Re-resolve the locks from pyproject.toml (newest versions allowed by its == pins).
lock: install
	$(UV_COMPILE) --extra azure-identity -o requirements/runtime.lock
	$(UV_COMPILE) --extra test --extra dev -o requirements/dev.lock

azurite:
	bash scripts/install-azurite.sh

promtool:
	bash scripts/install-promtool.sh

chromium:  # headless Chromium for the HTML report test (apt; skipped with a reason if impossible)
	bash scripts/install-chromium.sh

demo: install
	$(BIN)/streamer demo

# The suite starts ~100 `streamer` processes: byte-compile our modules once, so none of them
# recompiles the package (the sandbox sets PYTHONDONTWRITEBYTECODE; pip compiled the rest).
bytecode: install
	$(BIN)/python -m compileall -q streamer

test: install azurite promtool chromium bytecode
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The tests without servers or slow marks, spread over TEST_WORKERS processes (pytest-xdist;
# worksteal: an idle worker takes queued tests from a busy one, so a few long tests do not
# leave a core idle at the end).
# pytest may keep its rewritten test modules in __pycache__ (gitignored) even where the
# environment sets PYTHONDONTWRITEBYTECODE: ~1.5 s less collection per worker on a re-run.
test-fast: install promtool bytecode
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -m "not servers and not slow" \
		-n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

bench: install azurite bytecode
	$(BIN)/python -m bench.run

# .ci/run runs these two steps: the lint gate, then the README's test command.
ci: lint test

lint: install
	$(BIN)/ruff check streamer tests
	$(BIN)/mypy streamer

clean:
	rm -rf $(VENV) .tools .data demo-out .pytest_cache
