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
