# The README's quick start is `make demo` and `make test`; each builds .venv on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LOCK := requirements.lock

.PHONY: demo test test-latest bench lint docs clean install lock

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "mobco2 needs Python >= 3.11 (found " + sys.version.split()[0] + "); set PYTHON=/path/to/python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs exactly what was tested: every direct and transitive dependency is pinned in $(LOCK).
$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mobco2 demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The suite against the newest releases pyproject.toml allows, in a venv of its own, to catch an
# upgrade (msgspec 0.23 was one) on purpose rather than on a fresh machine.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/python -m pip install --quiet --upgrade -e '.[dev]'
	@echo 'Releases newer than (or missing from) the lock:'
	@.venv-latest/bin/python -m pip freeze --exclude-editable | grep -v '^mobco2' > .venv-latest/freeze.txt
	@grep -v '^#' $(LOCK) | diff - .venv-latest/freeze.txt | grep '^>' || echo '  none'
	.venv-latest/bin/python -m pytest -q -p no:cacheprovider

# Re-resolves the lock from pyproject.toml in a throwaway venv; commit the result with the tests passing.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet '.[dev,pdf]'
	{ echo "# Every package make demo, make test and .ci/run install, pinned: pip install -c $(LOCK)."; \
	  echo "# Regenerate with 'make lock' (a fresh venv resolving pyproject.toml's newest allowed releases)."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^mobco2'; } > $(LOCK)
	rm -rf .venv-lock

lint: $(STAMP)
	$(BIN)/ruff check .

docs: $(STAMP)
	$(BIN)/python -m mobco2_cli.docs > docs/cli.md

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench,cluster]'
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .venv-latest .venv-lock build *.egg-info .pytest_cache .ruff_cache .hypothesis
