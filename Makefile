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

# torch first, and the CPU build: the `torch` extra then finds it and pulls no CUDA wheels.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,torch]'
	touch $(STAMP)

# The main job on the bundled sample keyframes with the built-in camera backend.
# One motion is deliberately unsafe: `batch create` reports why, leaves it out
# and exits 1, which the leading '-' lets the demo go past.
DEMO := $(BIN)/vidgen --config examples/demo.toml
demo: $(STAMP)
	rm -rf demo-out
	-$(DEMO) batch create examples/keyframes --out demo-out/batch --batch-id demo
	$(DEMO) run demo-out/batch
	$(DEMO) status demo-out/batch
	@echo "videos and provenance: demo-out/batch/results/; audit log: demo-out/data/"
	@echo "review them in the studio: $(BIN)/vidgen serve demo-out"

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
	$(BIN)/python benchmarks/camera_render.py
	$(BIN)/python benchmarks/encode.py
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/qc.py
	$(BIN)/python benchmarks/interpolate.py
	$(BIN)/python benchmarks/comfyui_client.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
