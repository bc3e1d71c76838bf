import csv
import json

import pytest

from workbench.cli import main
from workbench.sweep import SweepConfig, sweep


def small(out, datasets):
    return SweepConfig(datasets=datasets, task="synth_sounds", model="nano", steps=2, batch_size=2, frames=32,
                       epochs=1, seeds="0", scratch=False, device="cpu", out_dir=str(out))


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.notebooks
def test_interrupted_sweep_resumes_without_repeating_work(tmp_path):
    first = sweep(small(tmp_path, "fractaldb"), progress=False)  # the sweep was stopped after one dataset
    assert [r["skipped"] for r in first] == [False]
    done = tmp_path / "fractaldb1k_seed0" / "done.json"
    stamp = done.stat().st_mtime_ns
    n_rows = len(rows(tmp_path / "results.csv"))
    second = sweep(small(tmp_path, "fractaldb,stat_spectrum"), progress=False)
    assert [(r["dataset"], r["skipped"]) for r in second] == [("fractaldb1k", True), ("stat_spectrum", False)]
    assert done.stat().st_mtime_ns == stamp
    table = rows(tmp_path / "results.csv")
    assert len(table) == 2 * n_rows  # the finished dataset's rows were not written again
    assert {r["pretrain_dataset"] for r in table} == {"fractaldb", "stat_spectrum"}
    assert (tmp_path / "stat_spectrum_seed0" / "02_pretrain.ipynb").exists()
    assert json.loads((tmp_path / "stat_spectrum_seed0" / "done.json").read_text())["test_accuracy"] is not None


def test_unknown_dataset_fails_before_any_work(tmp_path, capsys):
    assert main(["sweep", "--datasets", "fractaldb,nope", "--out", str(tmp_path)]) == 2
    assert "unknown pattern dataset 'nope'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
