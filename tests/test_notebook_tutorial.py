import json
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT_S = 600  # a wedged kernel fails the test instead of hanging it


@pytest.mark.notebooks
def test_tutorial_runs_top_to_bottom_with_its_answers(tmp_path):
    out = tmp_path / "tutorial"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "00_mae_tutorial.ipynb"), str(tmp_path / "out.ipynb"), kernel_name="python3",
        parameters={"model": "nano", "frames": 64, "bench_model": "nano", "bench_frames": 64,
                    "bench_batch_size": 1, "bench_repeats": 1, "train_steps": 3, "train_frames": 32,
                    "train_batch_size": 2, "out_dir": str(out)},
        progress_bar=False, cwd=str(tmp_path), execution_timeout=CELL_TIMEOUT_S,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["exercises_passed"] == 5 and metrics["loss_ignores_visible_tokens"] is True
    assert metrics["tokens_patch"] == 8 * 4 and metrics["tokens_frame"] == 64 // 2
    # the joint model runs every token through the encoder: more FLOPs and more saved activations
    assert metrics["flops_ratio_joint_over_mae"] > 1 and metrics["memory_ratio_joint_over_mae"] > 1
    assert metrics["step_s_mae"] > 0 and metrics["step_s_joint"] > 0
    assert metrics["train_steps"] == 3 and metrics["final_loss"] > 0
    for name in ("spectrogram", "tokens", "positions", "masking", "loss", "reconstructions", "sound_reconstruction"):
        assert (out / f"tutorial_{name}.png").stat().st_size > 1000
