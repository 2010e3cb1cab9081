# The two commands: `make run` (the app) and `make test` (the whole suite, offscreen).
# Both create .venv/ and install the project (editable, with dev extras) when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv lint bench package package-test clean

run: $(STAMP)
	$(BIN)/ageapp

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q
	$(BIN)/lint-imports

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/lint-imports

clean:
	rm -rf build dist .pytest_cache
