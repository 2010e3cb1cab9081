# The two commands: `make run` (the app) and `make test` (the whole suite, offscreen).
# Both create .venv/ and install the project (editable, with the training and dev extras) when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv lint bench package package-test package-full package-full-test clean

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

# The bundles (PyInstaller, one folder each; docs/packaging.md). Not part of `make test`: a build takes minutes.
# package: labelling and estimation without torch, dist/ageapp/ (checked: no torch inside, at most 500 MB).
# package-full: with training (torch), dist/ageapp-full/. The *-test targets build, then run the self-test.
PYINSTALLER := $(BIN)/pyinstaller --noconfirm --clean --distpath dist
LIGHT_MAX_MB := 500

package: $(STAMP)
	AGEAPP_PACKAGE=light $(PYINSTALLER) --workpath build/light packaging/ageapp.spec
	$(BIN)/python packaging/check_bundle.py dist/ageapp --light --max-mb $(LIGHT_MAX_MB)
	@du -sh dist/ageapp

package-test: package
	dist/ageapp/ageapp --selftest

package-full: $(STAMP)
	AGEAPP_PACKAGE=full $(PYINSTALLER) --workpath build/full packaging/ageapp.spec
	$(BIN)/python packaging/check_bundle.py dist/ageapp-full
	@du -sh dist/ageapp-full

package-full-test: package-full
	dist/ageapp-full/ageapp --selftest

lint: $(STAMP)
	$(BIN)/lint-imports

clean:
	rm -rf build dist .pytest_cache
