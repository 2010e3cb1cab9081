# The two commands: `make run` (the app) and `make test` (the whole suite, offscreen).
# Both create .venv/ and install the project (editable, with the training and dev extras) when missing.
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
	$(BIN)/python -m pip install -e '.[train,dev]'
	touch $(STAMP)

# The one-folder bundle dist/ageapp/ (PyInstaller; docs/packaging.md). Not part of `make test`: it takes minutes.
package: $(STAMP)
	$(BIN)/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/ageapp.spec
	@du -sh dist/ageapp

# Build, then run the bundle's own self-test (exit 0 only when every step passed).
package-test: package
	dist/ageapp/ageapp --selftest

lint: $(STAMP)
	$(BIN)/lint-imports

clean:
	rm -rf build dist .pytest_cache
