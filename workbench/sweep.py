"""Sweep: pre-train on each pattern dataset, then evaluate downstream, through the notebooks.

Each (dataset, seed) run executes ``02_pretrain.ipynb`` and then ``05_downstream.ipynb`` with
papermill; the executed notebooks are kept in the run's folder, so every number in the results
CSV can be traced to the notebook that produced it. A finished run leaves ``done.json`` and is
skipped next time; an interrupted pre-training resumes from its last checkpoint (the notebook
runs with ``resume=True``), so a killed sweep continues where it stopped.

    python -m workbench sweep --datasets all --task spoken_digits --model nano --steps 300
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from workbench import patterns

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SCRATCH = "scratch"


@dataclass
class SweepConfig:
    """What a sweep runs; saved as ``sweep.json`` in ``out_dir``."""

    datasets: str = "all"  # comma-separated pattern names / folders, or "all" (the paper's 17)
    task: str = "synth_sounds"  # downstream task (see workbench.audio.datasets)
    protocol: str = "linear"  # "linear" | "finetune"
    model: str = "nano"  # model preset for pre-training and for the scratch baseline
    steps: int = 300  # pre-training updates per dataset
    batch_size: int = 8
    frames: int = 128  # pre-training input width (10 ms frames)
    lr: float = 5e-4  # pre-training peak learning rate
    epochs: int = 20  # downstream epochs
    seeds: str = "0"  # comma-separated seeds; each dataset runs once per seed
    scratch: bool = True  # also evaluate a randomly initialised encoder (the baseline)
    device: str = "auto"
    out_dir: str = "runs/sweep"
    results_csv: str = ""  # empty: OUT_DIR/results.csv

    @classmethod
    def from_dict(cls, d: dict) -> "SweepConfig":
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown SweepConfig keys: {unknown}")
        return cls(**d)

    def dataset_list(self) -> list[str]:
        if self.datasets == "all":
            return [n for n in patterns.names() if patterns.get(n).paper_id is not None]
        names = [d.strip() for d in self.datasets.split(",") if d.strip()]
        for name in names:
            if not Path(name).is_dir():
                patterns.get(name)  # raises, listing valid names, before any work starts
        return names

    def seed_list(self) -> list[int]:
        return [int(s) for s in self.seeds.split(",") if s.strip()]


def _label(dataset: str) -> str:
    return Path(dataset).name if Path(dataset).is_dir() else patterns.get(dataset).name


def _execute(notebook: str, output: Path, parameters: dict) -> None:
    import papermill as pm

    pm.execute_notebook(str(NOTEBOOKS / notebook), str(output), parameters=parameters, kernel_name="python3",
                        progress_bar=False, cwd=str(output.parent), execution_timeout=24 * 3600)


def sweep(cfg: SweepConfig, *, progress: bool = True) -> list[dict]:
    """Run every (dataset, seed) not yet done; returns one record per run (done or skipped)."""
    plan = [(d, s) for s in cfg.seed_list() for d in ([SCRATCH] if cfg.scratch else []) + cfg.dataset_list()]
    out = Path(cfg.out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results_csv = Path(cfg.results_csv).resolve() if cfg.results_csv else out / "results.csv"
    (out / "sweep.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n")
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(plan), desc="sweep", unit="run")
    records = []
    for dataset, seed in plan:
        name = SCRATCH if dataset == SCRATCH else _label(dataset)
        run = out / f"{name}_seed{seed}"
        done = run / "done.json"
        if done.exists():
            records.append({**json.loads(done.read_text()), "skipped": True})
        else:
            run.mkdir(parents=True, exist_ok=True)
            t0 = time.time()
            checkpoint = SCRATCH
            if dataset != SCRATCH:
                _execute("02_pretrain.ipynb", run / "02_pretrain.ipynb", {
                    "dataset": dataset, "model": cfg.model, "steps": cfg.steps, "batch_size": cfg.batch_size,
                    "frames": cfg.frames, "lr": cfg.lr, "warmup_steps": max(1, cfg.steps // 10), "seed": seed,
                    "device": cfg.device, "out_dir": str(run / "pretrain"), "resume": True})
                checkpoint = str(run / "pretrain")
            _execute("05_downstream.ipynb", run / "05_downstream.ipynb", {
                "task": cfg.task, "checkpoint": checkpoint, "protocol": cfg.protocol, "epochs": cfg.epochs,
                "model": cfg.model, "seed": seed, "device": cfg.device, "out_dir": str(run / "downstream"),
                "results_csv": str(results_csv)})
            downstream = json.loads((run / "downstream" / "metrics.json").read_text())
            record = {"dataset": name, "seed": seed, "task": cfg.task, "protocol": cfg.protocol,
                      "test_accuracy": downstream.get("test_accuracy"), "wall_s": time.time() - t0}
            done.write_text(json.dumps(record, indent=2) + "\n")
            records.append({**record, "skipped": False})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(last=name)
    if bar is not None:
        bar.close()
    return records
