# Two commands on a fresh machine: `make demo` and `make test` (each creates .venv when missing).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo
PYTEST_ARGS ?=

.PHONY: venv demo test test-fast bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The main job: pre-train the tiny MAE on FractalDB on the CPU, plot loss and reconstructions.
demo: venv
	mkdir -p $(DEMO_DIR) figures
	OMP_WAIT_POLICY=PASSIVE $(BIN)/papermill notebooks/02_pretrain.ipynb $(DEMO_DIR)/02_pretrain.ipynb -k python3 \
		-p out_dir $(DEMO_DIR) -p figures_dir figures
	@echo "demo done: $(DEMO_DIR)/metrics.json, figures/pretrain_loss.png, figures/reconstructions.png"

test: venv
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -m "not gpu" $(PYTEST_ARGS)

test-fast: venv
	$(BIN)/python -m pytest -m "not gpu and not slow and not notebooks" $(PYTEST_ARGS)

bench: venv
	$(BIN)/python benchmarks/pretrain_step.py --model tiny --batch-size 8 --device cpu

clean:
	rm -rf $(VENV) runs .pytest_cache
