# The two commands a person needs: `make demo` and `make test`.
# Each creates .venv on a fresh machine and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The selection-machine half on the bundled sample keyframes: one motion is
# deliberately unsafe, so `batch create` reports it, leaves it out and exits 1.
demo: $(STAMP)
	rm -rf demo-out
	-$(BIN)/vidgen --config examples/demo.toml batch create examples/keyframes \
		--out demo-out/batch --batch-id demo
	$(BIN)/vidgen --config examples/demo.toml batch validate demo-out/batch
	@echo "batch folder: demo-out/batch (manifest.json, shots/); audit log: demo-out/data/"

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/batch_create.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
