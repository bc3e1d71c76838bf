"""Sweep: pre-train on each dataset, then evaluate downstream, through the notebooks or in-process.

Each (dataset, seed) run pre-trains as ``02_pretrain.ipynb`` does and evaluates as
``05_downstream.ipynb`` does. With ``executor="papermill"`` (the default) the two notebooks run
and stay in the run's folder, so every number in the results CSV can be traced to the notebook
that produced it; ``executor="python"`` calls :func:`workbench.train.pretrain.pretrain` and
:func:`workbench.train.finetune.finetune` with the same parameters (for machines without Jupyter, and
faster), writing the same run folders, ``done.json`` and results rows, without the figures.

A finished run leaves ``done.json`` and is skipped next time; an interrupted pre-training resumes
from its last checkpoint, so a killed sweep continues where it stopped. The
settings that change a run's result (:data:`RUN_SETTINGS`) are saved in ``sweep.json`` and in
every ``done.json``; a sweep into a folder made with other settings stops before any work instead
of mixing the two.

Datasets: pattern names (``all`` = the paper's 17), image folders, ``audio:TASK`` (pre-training on
a downstream task's own audio, the audio-MAE baseline), ``audio:TASK:ROOT`` or ``audio:/folder``.
:data:`PRESETS` hold named study sizes; explicit values override them.

    python -m workbench sweep --preset cpu --datasets all,audio:synth_sounds --out runs/sweep_cpu
    python -m workbench sweep --preset gpu --executor python --device cuda --out runs/sweep_gpu
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from workbench import patterns
from workbench.config import Config, setting
from workbench.files import atomic_write_json
from workbench.registry import Registry
from workbench.rundir import existing_run_files, run_lock
from workbench.sources.spec import parse_dataset
from workbench.train.finetune import PROTOCOLS

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SCRATCH = "scratch"
EXECUTORS = ("papermill", "python")
POOL_SIZE_ENV = "WORKBENCH_POOL_SIZE"  # read by workbench.patterns.feature_vis
# Settings that change what a run computes; a run folder is reused only when they all match.
RUN_SETTINGS = ("task", "protocol", "model", "steps", "batch_size", "frames", "lr", "epochs", "pool_size")

_PRESETS = {
    # The 17 paper datasets + scratch in under an hour on 2 shared CPU cores, papermill included
    # (measured: README). 112 frames = the 1 s synth_sounds clips; a 256-image feature-vis pool
    # takes ~5 minutes to build instead of ~20.
    "cpu": {"task": "synth_sounds", "model": "nano", "steps": 300, "batch_size": 8, "frames": 112,
            "lr": 5e-4, "epochs": 20, "pool_size": 256},
    # One GPU: the ViT-Ti encoder on the paper's 10.24 s inputs, 64k samples per dataset.
    "gpu": {"task": "synth_sounds", "model": "tiny", "steps": 2000, "batch_size": 32, "frames": 1024,
            "lr": 2e-4, "epochs": 50, "pool_size": 1024},
}


PRESETS: Registry[dict] = Registry("sweep preset")
for _name, _values in _PRESETS.items():
    PRESETS.add(_name, _values)


@dataclass
class SweepConfig(Config):
    """What a sweep runs; saved as ``sweep.json`` in ``out_dir``."""

    datasets: str = "all"  # comma-separated pattern names, image folders or audio:SPEC; all = the paper's 17
    task: str = "synth_sounds"  # downstream task
    protocol: str = setting("linear", choices=PROTOCOLS)  # downstream protocol
    model: str = "nano"  # model preset for pre-training and for the scratch baseline
    steps: int = setting(300, min=1)  # pre-training updates per dataset
    batch_size: int = setting(8, min=1)  # pre-training batch size
    frames: int = setting(128, min=1)  # pre-training input width (10 ms frames)
    lr: float = setting(5e-4, above=0.0)  # pre-training peak learning rate
    epochs: int = setting(20, min=1)  # downstream epochs
    seeds: str = "0"  # comma-separated seeds; each dataset runs once per seed
    scratch: bool = True  # also evaluate a randomly initialised encoder (the baseline)
    pool_size: int = setting(0, min=0)  # feature-vis pool size ($WORKBENCH_POOL_SIZE of the runs); 0: the environment's
    executor: str = setting("papermill", choices=EXECUTORS)  # papermill: run and keep the notebooks; python: in-process
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

    def seed_list(self) -> list[int]:
        return [int(s) for s in self.seeds.split(",") if s.strip()]

    def run_settings(self) -> dict:
        """The :data:`RUN_SETTINGS` with the pool size resolved (as the runs will see it)."""
        from workbench.patterns.feature_vis import pool_size

        settings = {k: getattr(self, k) for k in RUN_SETTINGS}
        with _pool_size(self.pool_size):
            settings["pool_size"] = pool_size()
        return settings


def preset_help() -> str:
    """One line per preset, for ``--help``."""
    return "; ".join(f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items())
                     for name, values in _PRESETS.items())


# ---- datasets -----------------------------------------------------------------------------------
def label(dataset: str) -> str:
    """Run-folder name: ``scratch``, or the dataset's label (:attr:`DatasetSpec.label`)."""
    return SCRATCH if dataset == SCRATCH else parse_dataset(dataset).label


# ---- one run ------------------------------------------------------------------------------------
def pretrain_parameters(cfg: SweepConfig, dataset: str, seed: int, run: Path) -> dict:
    """``02_pretrain.ipynb`` parameters of a run (the python executor maps the same values): an
    interrupted run continues from its checkpoint."""
    out = run / "pretrain"
    return {"dataset": parse_dataset(dataset).absolute(), "model": cfg.model, "steps": cfg.steps,
            "batch_size": cfg.batch_size, "frames": cfg.frames, "lr": cfg.lr, "seed": seed, "device": cfg.device,
            "out_dir": str(out), "resume": (out / "checkpoint.pt").exists()}


def downstream_parameters(cfg: SweepConfig, init: str, seed: int, run: Path, results_csv: Path) -> dict:
    """``05_downstream.ipynb`` parameters of a run; a downstream step that ran before without
    finishing the sweep's run is replaced (``overwrite``), its results rows with it."""
    out = run / "downstream"
    return {"task": cfg.task, "init": init, "protocol": cfg.protocol, "epochs": cfg.epochs,
            "model": cfg.model if init == SCRATCH else "", "seed": seed, "device": cfg.device, "out_dir": str(out),
            "results_csv": str(results_csv), "overwrite": (out / "config.json").exists()}


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
        from workbench.train.pretrain import notebook_config, pretrain

        cfg = notebook_config(**p)
        metrics = pretrain(cfg, progress=progress)
        heldout = heldout_batch(make_source(cfg.dataset, frames=cfg.frames, seed=cfg.seed), 4)
        rec = viz.reconstruct(build_from_checkpoint(cfg.out_dir), heldout, seed=cfg.seed)
        metrics["heldout_loss"] = rec.loss
        atomic_write_json(metrics, Path(cfg.out_dir) / "metrics.json")
    elif notebook == "05_downstream.ipynb":
        from workbench.train.finetune import FinetuneConfig, finetune

        cfg = FinetuneConfig(**{**p, "results_csv": p["results_csv"] or None, "model": p["model"] or None})
        finetune(cfg, progress=progress)
    else:
        raise ValueError(f"the python executor knows 02_pretrain and 05_downstream, not {notebook}")


@contextmanager
def _pool_size(size: int) -> Iterator[None]:
    """``$WORKBENCH_POOL_SIZE = size`` inside (0: unchanged); notebook kernels inherit it."""
    old = os.environ.get(POOL_SIZE_ENV)
    if size:
        os.environ[POOL_SIZE_ENV] = str(size)
    try:
        yield
    finally:
        if size and old is None:
            del os.environ[POOL_SIZE_ENV]
        elif size:
            os.environ[POOL_SIZE_ENV] = old


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
    data before any work, and repeats an unfinished run's downstream step in place: its earlier
    results rows are replaced, never doubled."""
    plan = [(d, s) for s in cfg.seed_list() for d in ([SCRATCH] if cfg.scratch else []) + cfg.dataset_list()]
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
        atomic_write_json({**cfg.to_dict(), "pool_size": settings["pool_size"]}, out / "sweep.json")
        execute = _papermill if cfg.executor == "papermill" else _python
        from tqdm.auto import tqdm

        records = []
        with _pool_size(settings["pool_size"]), tqdm(total=len(plan), desc="sweep", unit="run",
                                                     disable=not progress) as bar:
            for dataset, seed in plan:
                run = out / f"{label(dataset)}_seed{seed}"
                if (run / "done.json").exists():
                    records.append({**json.loads((run / "done.json").read_text()), "skipped": True})
                else:
                    record = _run_one(cfg, dataset, seed, run, results_csv, settings, execute, progress=progress)
                    records.append({**record, "skipped": False})
                bar.update(1)
                bar.set_postfix(last=label(dataset))
    return records


def _run_one(cfg: SweepConfig, dataset: str, seed: int, run: Path, results_csv: Path, settings: dict, execute,
             *, progress: bool) -> dict:
    """Pre-train (unless scratch) and evaluate one (dataset, seed); write ``done.json`` last."""
    t0 = time.time()
    run.mkdir(parents=True, exist_ok=True)
    init = SCRATCH
    if dataset != SCRATCH:
        _discard_unstarted(run / "pretrain")
        execute("02_pretrain.ipynb", run / "02_pretrain.ipynb", pretrain_parameters(cfg, dataset, seed, run),
                progress=progress)
        init = str(run / "pretrain")
    execute("05_downstream.ipynb", run / "05_downstream.ipynb",
            downstream_parameters(cfg, init, seed, run, results_csv), progress=progress)
    downstream = json.loads((run / "downstream" / "metrics.json").read_text())
    record = {"dataset": label(dataset), "pretrain_dataset": downstream.get("pretrain_dataset"), "seed": seed,
              "task": cfg.task, "protocol": cfg.protocol, "test_accuracy": downstream.get("test_accuracy"),
              "wall_s": time.time() - t0, "executor": cfg.executor, "settings": settings,
              "source": None if dataset == SCRATCH else parse_dataset(dataset).identity}
    atomic_write_json(record, run / "done.json")
    return record


def _discard_unstarted(folder: Path) -> None:
    """A sweep's pre-training that was killed before its first checkpoint has nothing to resume:
    its files go, so the run starts again (a run with a checkpoint is resumed instead)."""
    if not (folder / "checkpoint.pt").exists():
        for name in existing_run_files(folder):
            (folder / name).unlink()


def _check_source(done: Path, saved: str | None, dataset: str) -> None:
    if dataset != SCRATCH and saved is not None and saved != parse_dataset(dataset).identity:
        raise ValueError(f"{done} was made from other data ({saved}); now {parse_dataset(dataset).identity}. "
                         "Choose another --out")
