# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.untwine-installed
TESTS  := $(VENV)/.untwine-test-installed

.PHONY: demo test docs lint bench clean

# torch is installed first and pinned exactly: with no torch present, a looser requirement
# pulls the CUDA wheels (gigabytes); 2.13.0 is the CPU build this machine provides.
# The demo needs only the package; the test extra (pytest, ruff, import-linter, ray, ...) is
# installed on top of it by the first `make test`.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $(STAMP)

$(TESTS): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	@touch $(TESTS)

demo: $(STAMP)
	$(BIN)/untwine demo

test: $(TESTS)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/python -m pytest -q

# the site in site/, warnings as errors (mkdocs.yml: strict); `make test` builds it too
docs: $(TESTS)
	$(BIN)/mkdocs build --quiet --strict

lint: $(TESTS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/train_throughput.py

clean:
	rm -rf $(VENV) build dist site src/*.egg-info .pytest_cache .ruff_cache
