# The two commands: `make run` (the app) and `make test` (the whole suite, offscreen).
# Both create .venv/ and install into it exactly what requirements/lock.txt pins (with hashes; Linux x86_64,
# CPython 3.11), then the project itself, when missing or when the lock or pyproject.toml changed.
# `make lock` refreshes the lock on purpose (pip-tools, in a venv of its own); README.md says how.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt
NODEPS := requirements/bench-nodeps.txt

.PHONY: run test test-portable venv lock lint bench package package-test package-full package-full-test clean

run: $(STAMP)
	$(BIN)/ageapp

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q
	$(BIN)/lint-imports

# The numerical tests once more on the plainest CPU kernels and one thread (torch's ATen and oneDNN, numpy's
# SIMD): a tolerance that holds only on one CPU fails here first. tests/conftest.py checks that each setting
# took effect and names the kernels used at the end of the run.
PORTABILITY := AGEAPP_PORTABILITY_RUN=1 ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4"
NUMERICAL_TESTS := tests/core tests/trainer tests/model tests/estimation tests/annotation/test_rough_estimate.py \
	tests/reliability/test_malformed_models.py

test-portable: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PORTABILITY) $(BIN)/python -m pytest -q $(NUMERICAL_TESTS)

venv: $(STAMP)

# pip first, at the lock's version (its own entry, hashes included), so that pip does not replace itself in the
# middle of the big install; then the lock; then the packages installed without their dependencies; then the
# project, without dependencies or build isolation (setuptools and wheel come from the lock too).
# `pip check` then catches a pyproject.toml requirement the lock does not meet (run `make lock`); the one
# complaint expected is imagecorruptions' opencv-python, left out on purpose (requirements/bench-nodeps.in).
$(STAMP): pyproject.toml $(LOCK) $(NODEPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	awk '/^pip==/ { keep = 1 } keep && !/^pip==/ && !/--hash=/ { exit } keep' $(LOCK) > $(VENV)/pip-lock.txt
	$(BIN)/python -m pip install --require-hashes --no-deps -r $(VENV)/pip-lock.txt
	$(BIN)/python -m pip install --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --require-hashes --no-deps -r $(NODEPS)
	$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
	@problems="$$($(BIN)/python -m pip check | grep -v -e '^No broken requirements' \
	    -e '^imagecorruptions [^ ]* requires opencv-python, which is not installed')"; \
	  if [ -n "$$problems" ]; then echo "$$problems"; \
	    echo "$(LOCK) does not meet pyproject.toml: run make lock"; exit 1; fi
	touch $(STAMP)

# Refresh the lock: `make lock` keeps every pin that still fits pyproject.toml and adds what is new;
# `make lock UPGRADE=torch==<version>` (or `UPGRADE="numpy pillow"`) moves those packages; `make lock UPGRADE=all`
# moves everything to the newest release the ranges allow. pip-tools runs in its own venv (LOCK_VENV), never in
# .venv. Constraint files pip is configured with (`pip config list`) are honoured, so that the lock installs
# where it was made.
LOCK_VENV := .venv-lock
PIP_TOOLS := pip==26.3 pip-tools==7.7.0
UPGRADE ?=
UPGRADE_ARGS := $(if $(filter all,$(UPGRADE)),--upgrade,$(foreach p,$(UPGRADE),--upgrade-package '$(p)'))
PIP_CONSTRAINTS = $(shell $(PYTHON) -m pip config list 2>/dev/null | sed -n "s/^[^ ]*\.constraint='\(.*\)'$$/\1/p")

lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && \
	  $(LOCK_VENV)/bin/python -m pip install --quiet $(PIP_TOOLS); }
	cat /dev/null $(PIP_CONSTRAINTS) > $(LOCK_VENV)/pip-config-constraints.txt
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	  --strip-extras --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
	  --extra train --extra dev --extra bench --build-deps-for editable \
	  --constraint $(LOCK_VENV)/pip-config-constraints.txt $(UPGRADE_ARGS) --output-file $(LOCK) pyproject.toml
	$(LOCK_VENV)/bin/python requirements/hash_nodeps.py requirements/bench-nodeps.in > $(NODEPS).new
	mv $(NODEPS).new $(NODEPS)

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
