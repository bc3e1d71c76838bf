"""The results CSV: append, check columns, and the one summary that never averages settings."""

import pytest

from workbench.results import append_results, per_seed, summarize

ROW = dict(time="t", pretrain_dataset="none", task="x", protocol="linear", fold="1", metric="test_accuracy",
           value=0.5, seed=0, init="scratch", model="nano", epochs=1, pretrain_step=0, out_dir="o")


def test_results_csv_grows_and_summarises_folds_then_seeds(tmp_path):
    path = tmp_path / "r.csv"
    append_results(path, [ROW, {**ROW, "fold": "2", "value": 0.7}])
    append_results(path, [{**ROW, "seed": 1, "value": 0.9}])
    summary = summarize(path)
    assert len(summary) == 1
    assert summary.loc[0, "n_seeds"] == 2 and summary.loc[0, "value_mean"] == pytest.approx((0.6 + 0.9) / 2)
    assert per_seed(path)["value"].tolist() == pytest.approx([0.6, 0.9])
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not the results columns"):
        append_results(other, [ROW])


def test_different_settings_are_never_averaged_together(tmp_path):
    path = tmp_path / "r.csv"
    append_results(path, [ROW, {**ROW, "model": "tiny", "value": 0.9}, {**ROW, "epochs": 5, "value": 0.1},
                          {**ROW, "protocol": "finetune", "value": 0.3}])
    summary = summarize(path)
    assert len(summary) == 4 and sorted(summary["value_mean"]) == pytest.approx([0.1, 0.3, 0.5, 0.9])
    assert set(summary["n_seeds"]) == {1}


def test_missing_file_and_metric_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results CSV"):
        summarize(tmp_path / "none.csv")
    append_results(tmp_path / "r.csv", [ROW])
    with pytest.raises(ValueError, match="no rows with metric='test_map'"):
        summarize(tmp_path / "r.csv", metric="test_map")


def test_rows_of_a_rerun_replace_the_earlier_ones_never_double(tmp_path):
    path = tmp_path / "r.csv"
    append_results(path, [{**ROW, "run_id": "a", "value": 0.1}, {**ROW, "run_id": "b", "value": 0.2}])
    append_results(path, [{**ROW, "run_id": "a", "value": 0.3, "fold": "2"}])
    import csv

    rows = list(csv.DictReader(open(path)))
    assert [(r["run_id"], r["value"], r["fold"]) for r in rows] == [("b", "0.2", "1"), ("a", "0.3", "2")]
    from workbench.results import remove_run

    assert remove_run(path, "b") == 1 and [r["run_id"] for r in csv.DictReader(open(path))] == ["a"]


def test_aliases_count_as_their_registered_dataset(tmp_path):
    path = tmp_path / "r.csv"
    append_results(path, [{**ROW, "pretrain_dataset": "visual_atom", "value": 0.4},
                          {**ROW, "pretrain_dataset": "visual_atom1k", "seed": 1, "value": 0.6}])
    summary = summarize(path)
    assert summary["pretrain_dataset"].tolist() == ["visual_atom1k"] and summary.loc[0, "n_seeds"] == 2


def test_finetune_rows_carry_every_setting_and_paths_relative_to_the_csv(tmp_path):
    import csv
    import json

    from workbench.results import RESULT_COLUMNS
    from workbench.train.finetune import FinetuneConfig, finetune
    from workbench.train.pretrain import PretrainConfig, pretrain

    pre = tmp_path / "runs" / "pre"
    pretrain(PretrainConfig(dataset="visual_atom", model="nano", frames=112, steps=2, batch_size=2, lr=3e-4,
                            device="cpu", out_dir=str(pre)), progress=False)
    csv_path = tmp_path / "runs" / "results.csv"
    for epochs in (1, 2):
        finetune(FinetuneConfig(task="synth_sounds", init=str(pre), epochs=epochs, device="cpu",
                                out_dir=str(tmp_path / "runs" / f"ft{epochs}"), results_csv=str(csv_path)),
                 progress=False)
    rows = list(csv.DictReader(open(csv_path)))
    assert list(rows[0]) == list(RESULT_COLUMNS)
    r = rows[0]
    assert (r["pretrain_dataset"], r["model"], r["pretrain_steps"], r["pretrain_batch"], r["pretrain_lr"],
            r["pretrain_frames"], r["epochs"], r["lr"], r["batch_size"], r["frames"]) == (
        "visual_atom1k", "nano", "2", "2", "0.0003", "112", "1", "0.01", "32", "112")
    assert r["pretrain_run"] == json.loads((pre / "config.json").read_text())["run_id"]
    assert (r["out_dir"], r["init"]) == ("ft1", "pre/checkpoint.pt")  # relative to the CSV, no machine paths
    assert len(summarize(csv_path)) == 2  # 1 and 2 epochs are two settings, never one average
