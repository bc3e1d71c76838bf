# Two commands on a fresh machine: `make demo` and `make test` (each creates .venv when missing);
# `make lab` opens the notebooks in JupyterLab.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo
PYTEST_ARGS ?=

.PHONY: venv demo lab test test-fast bench bench-gpu clean

# PIP_CONSTRAINT replaces any constraint file of the machine's pip config (one may cap torch below
# our pin), so what installs is exactly constraints.txt, build dependencies included.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/python -m pip install --disable-pip-version-check -q \
		-c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The main job: pre-train the nano MAE on FractalDB on the CPU, plot loss and reconstructions.
demo: venv
	mkdir -p $(DEMO_DIR) figures
	OMP_WAIT_POLICY=PASSIVE $(BIN)/papermill notebooks/02_pretrain.ipynb $(DEMO_DIR)/02_pretrain.ipynb -k python3 \
		-p out_dir $(DEMO_DIR) -p figures_dir figures
	@echo "demo done: $(DEMO_DIR)/metrics.json, figures/pretrain_loss.png, figures/reconstructions.png"

# JupyterLab on notebooks/, reachable from this machine only. Jupyter makes a token and prints the
# URL that carries it ("Or copy and paste one of these URLs"); open that one. LAB_ARGS adds options.
LAB_ARGS ?=
lab: venv
	@echo "Starting JupyterLab on notebooks/; open the http://127.0.0.1:...?token=... URL it prints."
	$(BIN)/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

test: venv
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -m "not gpu" $(PYTEST_ARGS)

test-fast: venv
	$(BIN)/python -m pytest -m "not gpu and not slow and not notebooks and not browser" $(PYTEST_ARGS)

bench: venv
	$(BIN)/python benchmarks/pretrain_step.py --model tiny --batch-size 8 --device cpu --rounds 3

# The README's GPU tables (about 11 minutes on an H100, summed from their parts): step time, MFU,
# memory, largest batch, data path, procedural audio. Any python with torch will do (PY_GPU).
PY_GPU ?= PYTHONPATH=$(CURDIR) python3
BENCH_NPY ?= /tmp/workbench_fdb_npy
bench-gpu:
	$(PY_GPU) benchmarks/pretrain_step.py --model base --device cuda --precision bf16 --batch-size 128 \
		--variants mae:patch:random,joint:patch:random,reference:patch:random
	$(PY_GPU) benchmarks/pretrain_step.py --model base --device cuda --precision bf16 --batch-size 256 --compile \
		--variants mae:patch:random,joint:patch:random
	$(PY_GPU) benchmarks/pretrain_step.py --model base --device cuda --precision bf16 --batch-size 512 --compile \
		--variants mae:patch:random
	$(PY_GPU) benchmarks/pretrain_step.py --model base --device cuda --precision bf16 --batch-size 384 --compile \
		--variants joint:patch:random
	$(PY_GPU) benchmarks/pretrain_step.py --model base --device cuda --precision bf16 --batch-size 128 --max-batch \
		--no-flops --variants mae:patch:random,joint:patch:random
	$(PY_GPU) benchmarks/pretrain_step.py --model base --device cuda --precision bf16 --batch-size 512 --max-batch \
		--no-flops --grad-checkpointing --variants mae:patch:random,joint:patch:random
	$(PY_GPU) -m workbench patterns materialize fractaldb --num 8192 --format npy --device cuda --out $(BENCH_NPY)
	$(PY_GPU) benchmarks/data_path.py --device cuda --model base --batch-size 128 --workers 0,4 \
		--names fractaldb1k,procedural_audio --folder $(BENCH_NPY)
	$(PY_GPU) benchmarks/procedural_audio.py --device cuda --batch-size 64

clean:
	rm -rf $(VENV) runs .pytest_cache
