import json
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.notebooks
def test_correlation_notebook_on_a_small_results_table(tmp_path):
    rows = []
    for name, acc in (("fractaldb", 0.5), ("stat_spectrum", 0.4), ("dead_leaves_squares", 0.6), ("none", 0.3)):
        rows.append({"time": "", "pretrain_dataset": name, "task": "synth_sounds", "protocol": "linear", "fold": "none",
                     "metric": "test_accuracy", "value": acc, "seed": 0, "init": "", "model": "nano", "epochs": 1,
                     "pretrain_step": 1, "out_dir": ""})
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    out = tmp_path / "corr"
    pm.execute_notebook(str(ROOT / "notebooks" / "04_correlation.ipynb"), str(tmp_path / "out.ipynb"),
                        kernel_name="python3", progress_bar=False, cwd=str(tmp_path), execution_timeout=600,
                        parameters={"results_csv": str(tmp_path / "results.csv"), "n_images": 2, "size": 32,
                                    "out_dir": str(out)})
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "synth_sounds" and metrics["n_datasets"] == 3
    assert metrics["datasets"] == ["dead_leaves_squares", "fractaldb1k", "stat_spectrum"]
    assert {c["property"] for c in metrics["correlations"]} >= {"entropy", "spectral_slope"}
    assert (out / "property_vs_accuracy.png").stat().st_size > 1000
