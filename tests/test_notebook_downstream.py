"""notebooks/05_downstream.ipynb runs end to end through papermill on a tiny folder task."""

import csv
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "05_downstream.ipynb"


def test_downstream_notebook_is_committed_stripped_with_one_parameters_cell():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    names = {line.split(":")[0] for line in params[0].source.splitlines() if line.strip()}
    assert {"task", "init", "protocol", "epochs", "out_dir"} <= names


@pytest.mark.notebooks
def test_downstream_notebook_runs_and_writes_metrics(tmp_path):
    import papermill as pm

    data = tmp_path / "tones"
    t = np.arange(4000) / 16_000
    for c, freq in enumerate((300.0, 3000.0)):
        for k in range(5):
            wave = 0.5 * np.sin(2 * np.pi * freq * (1 + 0.02 * k) * t)
            path = data / f"class{c}" / f"{k}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), wave.astype(np.float32), 16_000)
    out = tmp_path / "run"
    results = tmp_path / "results.csv"
    pm.execute_notebook(
        str(NOTEBOOK), str(tmp_path / "out.ipynb"), kernel_name="python3",
        parameters={"task": "folder", "root": str(data), "model": "nano", "epochs": 2, "batch_size": 4,
                    "device": "cpu", "out_dir": str(out), "results_csv": str(results)},
        progress_bar=False, cwd=str(tmp_path),
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and len(metrics["history"]) == 2
    assert {"learning_curves.png", "confusion_matrix.png", "examples.png"} <= set(metrics["figures"])
    assert all((out / f).stat().st_size > 1000 for f in metrics["figures"])
    with open(results, newline="") as f:
        assert [r["task"] for r in csv.DictReader(f)] == ["folder"]
