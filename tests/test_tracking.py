"""--log tensorboard mirrors the metrics records; metrics.jsonl / metrics.json stay the record."""
import json
import sys

import numpy as np
import pytest
import soundfile as sf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from workbench.cli import main
from workbench.tracking import TENSORBOARD_DIR, TensorBoardLog, make_tracker


def scalars(run_dir):
    acc = EventAccumulator(str(run_dir / TENSORBOARD_DIR))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_pretrain_log_tensorboard_mirrors_metrics_jsonl(tmp_path):
    out = tmp_path / "run"
    args = ["pretrain", "--dataset", "fractaldb", "--model", "nano", "--steps", "3", "--batch-size", "2",
            "--frames", "32", "--out", str(out), "--no-progress", "--log", "tensorboard"]
    assert main(args) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = scalars(out)
    assert [s for s, _ in logged["pretrain/loss"]] == [1, 2, 3]
    np.testing.assert_allclose([v for _, v in logged["pretrain/loss"]], [r["loss"] for r in records], rtol=1e-6)
    assert "pretrain/lr" in logged and "pretrain/step" not in logged
    # A resumed run appends its steps to the same tags.
    assert main(args[:6] + ["4"] + args[7:] + ["--resume"]) == 0
    assert [s for s, _ in scalars(out)["pretrain/loss"]] == [1, 2, 3, 4]


def test_finetune_log_tensorboard_writes_one_point_per_epoch(tmp_path):
    root = tmp_path / "task"
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("test", 2)):
        for c, freq in enumerate((300.0, 3000.0)):
            for k in range(n):
                path = root / split / f"c{c}" / f"{k}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                t = np.arange(4000) / 16000
                sf.write(str(path), (0.5 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size))
                         .astype(np.float32), 16000)
    out = tmp_path / "ft"
    assert main(["finetune", "--task", "folder", "--root", str(root), "--init", "scratch", "--model", "nano", "--epochs", "2",
                 "--protocol", "finetune", "--out", str(out), "--no-progress", "--log", "tensorboard"]) == 0
    history = json.loads((out / "metrics.json").read_text())["history"]
    logged = scalars(out)
    assert [s for s, _ in logged["finetune/test_accuracy"]] == [1, 2]
    np.testing.assert_allclose([v for _, v in logged["finetune/train_loss"]], [r["train_loss"] for r in history],
                               rtol=1e-6)


def test_unknown_tracker_lists_the_valid_ones(tmp_path):
    with pytest.raises(KeyError, match="unknown tracker 'wandb'.*Valid trackers: tensorboard"):
        make_tracker("wandb", tmp_path, group="pretrain", step_key="step")
    assert make_tracker("", tmp_path, group="pretrain", step_key="step") is None


def test_missing_tensorboard_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match=r"pip install 'workbench\[tensorboard\]'"):
        TensorBoardLog(tmp_path, group="pretrain", step_key="step")
    assert not (tmp_path / TENSORBOARD_DIR).exists()
