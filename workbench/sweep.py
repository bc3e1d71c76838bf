"""Sweep: pre-train on each dataset, then evaluate downstream, through the notebooks or in-process.

Each (dataset, seed) run pre-trains once as ``02_pretrain.ipynb`` does and evaluates the encoder
on every task as ``05_downstream.ipynb`` does. With ``executor="papermill"`` (the default) the
notebooks run and stay in the run's folder, so every number in the results CSV can be traced to
the notebook that produced it; ``executor="python"`` calls
:func:`workbench.train.pretrain.pretrain` and :func:`workbench.train.finetune.finetune` with the
same parameters (for machines without Jupyter, and faster), writing the same run folders,
``done.json`` and results rows, without the figures. Beside the datasets, every seed evaluates
two references on every task: ``scratch`` (a randomly initialised encoder) and ``floor``
(:mod:`workbench.train.floor`: pooled log-mel statistics and a logistic regression, no encoder).

A finished run leaves ``done.json`` and is skipped next time; an interrupted pre-training resumes
from its last checkpoint, so a killed sweep continues where it stopped. The settings that change
a run's result (:data:`RUN_SETTINGS`) are saved in ``sweep.json`` and in every ``done.json``; a
sweep into a folder made with other settings stops before any work instead of mixing the two.

Datasets: pattern names (``all`` = the paper's 17), image folders, ``audio:TASK`` (pre-training on
a downstream task's own audio, the audio-MAE baseline), ``audio:TASK:ROOT`` or ``audio:/folder``.
:data:`PRESETS` hold named study sizes; explicit values override them.

    python -m workbench sweep --preset cpu --out runs/sweep_cpu
    python -m workbench sweep --preset gpu --device cuda --out runs/sweep_gpu
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from workbench import patterns
from workbench.config import Config, setting
from workbench.files import atomic_write_json
from workbench.models.mae import TOKENS
from workbench.registry import Registry
from workbench.rundir import existing_run_files, run_lock
from workbench.sources.spec import parse_dataset
from workbench.train.finetune import PROTOCOLS
from workbench.train.floor import FLOOR

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SCRATCH = "scratch"
REFERENCES = (SCRATCH, FLOOR)  # evaluated without pre-training
EXECUTORS = ("papermill", "python")
FEATVIS_POOL_ENV = "WORKBENCH_POOL_SIZE"  # read by workbench.patterns.feature_vis
# Settings that change what a run computes; a run folder is reused only when they all match.
RUN_SETTINGS = ("tasks", "protocol", "model", "tokens", "steps", "batch_size", "frames", "lr", "pool", "epochs",
                "label_fraction", "eval_every", "featvis_pool")

_STUDY = {"tasks": "synth_sounds,spoken_digits", "datasets": "all,procedural_audio,audio:synth_sounds,audio:spoken_digits",
          "seeds": "0,1,2", "protocol": "finetune", "label_fraction": 0.1, "eval_every": 0, "tokens": "frame",
          "executor": "python"}
_PRESETS = {
    # The README's study on 2 CPU cores (budget search: README, "The study"): every source pre-trains a
    # nano encoder on a fixed pool of 2,000 samples, then fine-tunes on 10% of each task's labels.
    "cpu": {**_STUDY, "model": "nano", "steps": 2000, "batch_size": 32, "frames": 112, "lr": 1e-3, "pool": 2000,
            "epochs": 200, "featvis_pool": 256, "jobs": 2},
    # One H100/H200 (sized from measured step times, not yet run): the ViT-Ti encoder, 4x the samples.
    "gpu": {**_STUDY, "model": "tiny", "steps": 2000, "batch_size": 64, "frames": 112, "lr": 1e-3, "pool": 8192,
            "epochs": 200, "featvis_pool": 1024, "jobs": 4},
}

PRESETS: Registry[dict] = Registry("sweep preset")
for _name, _values in _PRESETS.items():
    PRESETS.add(_name, _values)


@dataclass
class SweepConfig(Config):
    """What a sweep runs; saved as ``sweep.json`` in ``out_dir``."""

    datasets: str = "all"  # comma-separated pattern names, image folders or audio:SPEC; all = the paper's 17
    tasks: str = "synth_sounds"  # comma-separated downstream tasks; every encoder is evaluated on each
    protocol: str = setting("linear", choices=PROTOCOLS)  # downstream protocol
    model: str = "nano"  # model preset for pre-training and for the scratch baseline
    tokens: str = setting("patch", choices=TOKENS)  # patch (16x16) or frame (128 mel bins x 2 frames) tokens, for every encoder
    steps: int = setting(300, min=1)  # pre-training updates per dataset
    batch_size: int = setting(8, min=1)  # pre-training batch size
    frames: int = setting(128, min=1)  # pre-training input width (10 ms frames)
    lr: float = setting(5e-4, above=0.0)  # pre-training peak learning rate
    pool: int = setting(0, min=0)  # patterns: 0 renders every batch anew; N trains on a fixed pool of N samples
    epochs: int = setting(20, min=1)  # downstream epochs
    label_fraction: float = setting(1.0, above=0.0, max=1.0)  # fraction of the training labels downstream
    eval_every: int = setting(1, min=0)  # downstream: evaluate every N epochs and after the last (0: only after the last)
    seeds: str = "0"  # comma-separated seeds; each dataset runs once per seed
    scratch: bool = True  # also evaluate a randomly initialised encoder (the baseline)
    floor: bool = True  # also evaluate the floor (pooled log-mel statistics + logistic regression)
    featvis_pool: int = setting(0, min=0)  # feature-vis image pool ($WORKBENCH_POOL_SIZE of the runs); 0: the environment's
    executor: str = setting("papermill", choices=EXECUTORS)  # papermill: run and keep the notebooks; python: in-process
    jobs: int = setting(1, min=1)  # runs at once, each in its own process with cores/jobs threads (small models on many cores)
    preset: str = setting("", cli=False)  # the preset these values started from ("" = none); for the record
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    out_dir: str = setting("runs/sweep", flag="out")  # one folder per (dataset, seed) run, sweep.json, results.csv
    results_csv: str = setting("", flag="results")  # results CSV; empty: OUT/results.csv

    @classmethod
    def from_preset(cls, preset: str = "", **overrides) -> "SweepConfig":
        """``PRESETS[preset]`` (none when empty) with ``overrides`` on top, e.g. ``steps=50``."""
        base = {**PRESETS.get(preset), "preset": preset} if preset else {}
        return cls.from_dict({**base, **overrides})

    def dataset_list(self) -> list[str]:
        """The datasets in order, ``all`` expanded; raises, naming the valid choices, on the first
        unknown name or bad ``audio:`` spec, before any work starts."""
        names = []
        for item in (d.strip() for d in self.datasets.split(",")):
            if item == "all":
                names += [n for n in patterns.names() if patterns.get(n).paper_id is not None]
            elif item:
                parse_dataset(item)
                names.append(item)
        labels = [label(n) for n in names]
        twice = sorted({x for x in labels if labels.count(x) > 1})
        if twice:
            raise ValueError(f"datasets {twice} are given twice (or two datasets share a run-folder name)")
        return names

    def task_list(self) -> list[str]:
        """The downstream tasks; an unknown one is an error naming the valid ones."""
        from workbench.audio import tasks

        names = [t.strip() for t in self.tasks.split(",") if t.strip()]
        if not names:
            raise ValueError("tasks is empty: name at least one downstream task")
        return [tasks.TASKS.canonical(t) for t in names]

    def seed_list(self) -> list[int]:
        return [int(s) for s in self.seeds.split(",") if s.strip()]

    def plan(self) -> list[tuple[str, int]]:
        """Every (dataset or reference, seed) the sweep runs, seed by seed."""
        refs = [r for r in REFERENCES if getattr(self, r)]
        return [(d, s) for s in self.seed_list() for d in refs + self.dataset_list()]

    def run_settings(self) -> dict:
        """The :data:`RUN_SETTINGS` with the feature-vis pool resolved (as the runs will see it)."""
        from workbench.patterns.feature_vis import pool_size

        settings = {k: getattr(self, k) for k in RUN_SETTINGS}
        with _featvis_pool(self.featvis_pool):
            settings["featvis_pool"] = pool_size()
        return settings


def preset_help() -> str:
    """One line per preset, for ``--help``."""
    return "; ".join(f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items())
                     for name, values in _PRESETS.items())


# ---- datasets -----------------------------------------------------------------------------------
def label(dataset: str) -> str:
    """Run-folder name: ``scratch``, ``floor``, or the dataset's label (:attr:`DatasetSpec.label`)."""
    return dataset if dataset in REFERENCES else parse_dataset(dataset).label


# ---- one run ------------------------------------------------------------------------------------
def pretrain_parameters(cfg: SweepConfig, dataset: str, seed: int, run: Path) -> dict:
    """``02_pretrain.ipynb`` parameters of a run (the python executor maps the same values): an
    interrupted run continues from its checkpoint."""
    out = run / "pretrain"
    return {"dataset": parse_dataset(dataset).absolute(), "model": cfg.model, "tokens": cfg.tokens, "steps": cfg.steps,
            "batch_size": cfg.batch_size, "frames": cfg.frames, "lr": cfg.lr, "seed": seed,
            "pool": cfg.pool if parse_dataset(dataset).kind == "pattern" else 0,  # audio is a fixed set already
            "device": cfg.device, "out_dir": str(out), "resume": (out / "checkpoint.pt").exists()}


def downstream_parameters(cfg: SweepConfig, task: str, init: str, seed: int, run: Path, results_csv: Path) -> dict:
    """``05_downstream.ipynb`` parameters of a run on ``task``; a downstream step that ran before
    without finishing the sweep's run is replaced (``overwrite``), its results rows with it."""
    out = run / f"downstream_{task}"
    return {"task": task, "init": init, "protocol": cfg.protocol, "epochs": cfg.epochs,
            "label_fraction": cfg.label_fraction, "eval_every": cfg.eval_every, "seed": seed,
            "model": cfg.model if init == SCRATCH else "", "tokens": cfg.tokens if init == SCRATCH else "",
            "device": cfg.device, "out_dir": str(out), "results_csv": str(results_csv),
            "overwrite": (out / "config.json").exists()}


def _papermill(notebook: str, output: Path, parameters: dict, *, progress: bool) -> None:
    import papermill as pm

    pm.execute_notebook(str(NOTEBOOKS / notebook), str(output), parameters=parameters, kernel_name="python3",
                        progress_bar=False, cwd=str(output.parent), execution_timeout=24 * 3600)


def _python(notebook: str, output: Path, p: dict, *, progress: bool) -> None:
    """What the notebook's code does with parameters ``p``, minus its figures."""
    if notebook == "02_pretrain.ipynb":
        from workbench import viz
        from workbench.checkpoint import build_from_checkpoint
        from workbench.sources import heldout_batch, make_source
        from workbench.train.heldout import HELDOUT_SAMPLES
        from workbench.train.pretrain import notebook_config, pretrain

        cfg = notebook_config(**p)
        metrics = pretrain(cfg, progress=progress)
        heldout = heldout_batch(make_source(cfg.dataset, frames=cfg.frames, seed=cfg.seed), HELDOUT_SAMPLES)
        rec = viz.reconstruct(build_from_checkpoint(cfg.out_dir), heldout, seed=cfg.seed)
        metrics.update(heldout_loss=rec.loss, heldout_mse=rec.baseline_mse)
        atomic_write_json(metrics, Path(cfg.out_dir) / "metrics.json")
    elif notebook == "05_downstream.ipynb":
        from workbench.train.finetune import FinetuneConfig, finetune

        cfg = FinetuneConfig(**{**p, "results_csv": p["results_csv"] or None, "model": p["model"] or None,
                                "tokens": p["tokens"] or None})
        finetune(cfg, progress=progress)
    else:
        raise ValueError(f"the python executor knows 02_pretrain and 05_downstream, not {notebook}")


@contextmanager
def _featvis_pool(size: int) -> Iterator[None]:
    """``$WORKBENCH_POOL_SIZE = size`` inside (0: unchanged); notebook kernels inherit it."""
    old = os.environ.get(FEATVIS_POOL_ENV)
    if size:
        os.environ[FEATVIS_POOL_ENV] = str(size)
    try:
        yield
    finally:
        if size and old is None:
            del os.environ[FEATVIS_POOL_ENV]
        elif size:
            os.environ[FEATVIS_POOL_ENV] = old


def _check_settings(where: Path, saved: dict, settings: dict) -> None:
    diff = {k: (saved[k], v) for k, v in settings.items() if k in saved and saved[k] != v}
    if diff:
        text = ", ".join(f"{k} {old!r} there, {new!r} now" for k, (old, new) in diff.items())
        raise ValueError(f"{where} was made with other settings ({text}); resume with the same settings "
                         "(preset and flags) or choose another --out")


# ---- the sweep ----------------------------------------------------------------------------------
def sweep(cfg: SweepConfig, *, progress: bool = True) -> list[dict]:
    """Run every (dataset, seed) not yet done; returns one record per run (done or skipped).

    The sweep holds the lock on ``out_dir`` (one writer), checks every finished run's settings and
    data before any work, and repeats an unfinished run's downstream steps in place: their earlier
    results rows are replaced, never doubled."""
    plan, tasks = cfg.plan(), cfg.task_list()
    settings = cfg.run_settings()
    out = Path(cfg.out_dir).resolve()
    if (out / "sweep.json").exists():
        _check_settings(out, json.loads((out / "sweep.json").read_text()), settings)
    for dataset, seed in plan:
        done = out / f"{label(dataset)}_seed{seed}" / "done.json"
        if done.exists():
            saved = json.loads(done.read_text())
            _check_settings(done, saved.get("settings", {}), settings)
            _check_source(done, saved.get("source"), dataset)
    with run_lock(out, what="sweep"):
        results_csv = Path(cfg.results_csv).resolve() if cfg.results_csv else out / "results.csv"
        atomic_write_json({**cfg.to_dict(), "featvis_pool": settings["featvis_pool"]}, out / "sweep.json")
        execute = _papermill if cfg.executor == "papermill" else _python
        from tqdm.auto import tqdm

        records: dict[tuple[str, int], dict] = {}
        todo = []
        for dataset, seed in plan:
            run = out / f"{label(dataset)}_seed{seed}"
            if (run / "done.json").exists():
                records[dataset, seed] = {**json.loads((run / "done.json").read_text()), "skipped": True}
            else:
                todo.append((dataset, seed, run))
        with _featvis_pool(settings["featvis_pool"]), tqdm(total=len(plan), initial=len(records), desc="sweep",
                                                           unit="run", disable=not progress) as bar:
            jobs = [(cfg, tasks, dataset, seed, run, results_csv, settings, execute) for dataset, seed, run in todo]
            for (dataset, seed, _run), record in zip(todo, _execute_runs(jobs, cfg.jobs, progress=progress)):
                records[dataset, seed] = {**record, "skipped": False}
                bar.update(1)
                bar.set_postfix(last=label(dataset))
    return [records[key] for key in plan]


def _execute_runs(jobs: list[tuple], n_jobs: int, *, progress: bool) -> Iterator[dict]:
    """``_run_one(*job)`` for every job, in order: here, or in ``n_jobs`` worker processes that
    split the cores between them (records still come back in plan order). A failed run stops the
    sweep after the runs already started have finished; finished runs stay done."""
    if n_jobs == 1 or len(jobs) <= 1:
        for job in jobs:
            yield _run_one(*job, progress=progress)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // n_jobs)
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                             initargs=(threads,)) as pool:
        futures = [pool.submit(_run_one, *job, progress=False) for job in jobs]
        try:
            for future in futures:
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _worker_init(threads: int) -> None:
    """A sweep worker: ``threads`` intra-op threads for torch, and for notebook kernels it starts."""
    import torch

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch.set_num_threads(threads)


def _run_one(cfg: SweepConfig, tasks: list[str], dataset: str, seed: int, run: Path, results_csv: Path,
             settings: dict, execute: Callable, *, progress: bool) -> dict:
    """Pre-train (unless a reference) and evaluate one (dataset, seed) on every task; write
    ``done.json`` last."""
    t0 = time.time()
    run.mkdir(parents=True, exist_ok=True)
    init = dataset
    if dataset not in REFERENCES:
        _discard_unstarted(run / "pretrain")
        execute("02_pretrain.ipynb", run / "02_pretrain.ipynb", pretrain_parameters(cfg, dataset, seed, run),
                progress=progress)
        init = str(run / "pretrain")
    accuracy = {}
    for task in tasks:
        execute("05_downstream.ipynb", run / f"05_downstream_{task}.ipynb",
                downstream_parameters(cfg, task, init, seed, run, results_csv), progress=progress)
        downstream = json.loads((run / f"downstream_{task}" / "metrics.json").read_text())
        accuracy[task] = downstream.get("test_accuracy")
    record = {"dataset": label(dataset), "pretrain_dataset": downstream.get("pretrain_dataset"), "seed": seed,
              "tasks": tasks, "protocol": cfg.protocol, "test_accuracy": accuracy, "wall_s": time.time() - t0,
              "executor": cfg.executor, "settings": settings,
              "source": None if dataset in REFERENCES else parse_dataset(dataset).identity}
    atomic_write_json(record, run / "done.json")
    return record


def _discard_unstarted(folder: Path) -> None:
    """A sweep's pre-training that was killed before its first checkpoint has nothing to resume:
    its files go, so the run starts again (a run with a checkpoint is resumed instead)."""
    if not (folder / "checkpoint.pt").exists():
        for name in existing_run_files(folder):
            (folder / name).unlink()


def _check_source(done: Path, saved: str | None, dataset: str) -> None:
    if dataset not in REFERENCES and saved is not None and saved != parse_dataset(dataset).identity:
        raise ValueError(f"{done} was made from other data ({saved}); now {parse_dataset(dataset).identity}. "
                         "Choose another --out")
