import json

import papermill as pm
import pytest

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.notebooks
def test_pretrain_notebook_runs_and_writes_metrics(tmp_path):
    out = tmp_path / "run"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "02_pretrain.ipynb"), str(tmp_path / "out.ipynb"), kernel_name="python3",
        parameters={"dataset": "fractaldb", "model": "nano", "steps": 4, "frames": 32, "batch_size": 2, "pool": 6,
                    "out_dir": str(out), "warmup_steps": 1},
        progress_bar=False, cwd=str(tmp_path), execution_timeout=600,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 4 and len(metrics["losses"]) == 4
    assert {"final_loss", "heldout_loss", "dataset", "model"} <= set(metrics)
    assert set(metrics["heldout_mse"]) == {"model", "zero", "visible_mean", "ratio"}
    config = json.loads((out / "config.json").read_text())
    assert config["pretrain"]["pool"] == 6 and "#pool6" in config["source"]["identity"]
    for fig in ("pretrain_loss.png", "reconstructions.png", "inputs.png"):
        assert (out / fig).stat().st_size > 1000


@pytest.mark.notebooks
def test_a_parameter_of_the_wrong_type_stops_with_its_name(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match=r"steps must be int, got 2.5 \(float\)"):
        pm.execute_notebook(
            str(ROOT / "notebooks" / "02_pretrain.ipynb"), str(tmp_path / "out.ipynb"), kernel_name="python3",
            parameters={"steps": 2.5, "out_dir": str(tmp_path / "run")}, progress_bar=False, cwd=str(tmp_path),
            execution_timeout=600)
    assert not (tmp_path / "run").exists()
