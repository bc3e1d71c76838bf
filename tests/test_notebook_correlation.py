import json
from pathlib import Path

import numpy as np
import papermill as pm
import pandas as pd
import pytest

from workbench.results import append_results

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.notebooks
def test_correlation_notebook_finds_a_planted_source_and_draws_the_study(tmp_path):
    """Three seeds of scratch, the floor and four pattern datasets, one of them 15 points above
    scratch: the notebook calls it significant, draws the forest and property plots, and writes
    its findings."""
    rng = np.random.default_rng(0)
    lifts = {"none": 0.0, "floor": -0.1, "fractaldb": 0.15, "stat_spectrum": 0.0, "dead_leaves_squares": 0.01,
             "shaders1k": -0.01}
    rows = [{"time": "", "run_id": f"{name}{seed}", "pretrain_dataset": name, "task": "synth_sounds",
             "protocol": "finetune", "fold": "none", "metric": "test_accuracy", "seed": seed, "model": "nano",
             "epochs": 3, "init": "scratch" if name == "none" else name,
             "value": 0.5 + lift + 0.01 * seed + rng.normal(0, 0.01)}
            for seed in range(3) for name, lift in lifts.items()]
    append_results(tmp_path / "results.csv", rows)
    pd.DataFrame({"name": ["fractaldb1k", "stat_spectrum", "dead_leaves_squares", "shaders1k"],
                  "entropy": [7.1, 5.0, 6.2, 6.0], "spectral_slope": [-2.0, -1.0, -3.0, -2.5]}
                 ).to_csv(tmp_path / "props.csv", index=False)
    out = tmp_path / "corr"
    pm.execute_notebook(str(ROOT / "notebooks" / "04_correlation.ipynb"), str(tmp_path / "out.ipynb"),
                        kernel_name="python3", progress_bar=False, cwd=str(tmp_path), execution_timeout=600,
                        parameters={"results_csv": str(tmp_path / "results.csv"),
                                    "properties_csv": str(tmp_path / "props.csv"), "out_dir": str(out)})
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["pretrain_dataset"] for r in metrics["significant"]] == ["fractaldb1k"]
    assert metrics["significant"][0]["diff_vs_scratch"] == pytest.approx(0.15, abs=0.03)
    assert any("fractaldb1k" in line and "beat scratch" in line for line in metrics["findings"])
    assert {"study_forest.png", "study_kinds_synth_sounds_finetune.png",
            "property_vs_accuracy_synth_sounds_finetune.png"} <= set(metrics["figures"])
    assert metrics["ranking"][0]["n_sources"] == 4


@pytest.mark.notebooks
def test_correlation_notebook_runs_on_the_shipped_study_as_it_is(tmp_path):
    """Opened and run with its defaults, it reads the shipped rows and properties."""
    out = tmp_path / "corr"
    pm.execute_notebook(str(ROOT / "notebooks" / "04_correlation.ipynb"), str(tmp_path / "out.ipynb"),
                        kernel_name="python3", progress_bar=False, cwd=str(tmp_path), execution_timeout=600,
                        parameters={"out_dir": str(out)})
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["results_csv"].endswith("figures/data/study_cpu.csv") and metrics["findings"]
