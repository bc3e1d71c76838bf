import numpy as np
import pandas as pd
import pytest

from workbench.study import correlations, join, load_results
from workbench.viz.study import plot_correlation_heatmap, plot_property_vs_accuracy


def write_results(path, rows):
    cols = ["time", "pretrain_dataset", "task", "protocol", "fold", "metric", "value", "seed", "init", "model",
            "epochs", "pretrain_step", "out_dir"]
    pd.DataFrame([{c: r.get(c, "") for c in cols} for r in rows]).to_csv(path, index=False)


def test_known_correlation(tmp_path):
    names = [f"d{i}" for i in range(6)]
    x = np.array([0.1, 0.5, 0.2, 0.9, 0.4, 0.7])
    acc = 0.3 + 0.5 * x  # perfectly linear: r = 1
    rows = []
    for name, a in zip(names, acc):
        for seed, noise in ((0, -0.01), (1, 0.01)):  # seeds average to the exact value
            for fold in (1, 2):
                rows.append({"pretrain_dataset": name, "task": "t", "protocol": "linear", "fold": fold,
                             "metric": "test_accuracy", "value": a + noise, "seed": seed})
            rows.append({"pretrain_dataset": name, "task": "t", "protocol": "linear", "fold": 1,
                         "metric": "loss", "value": 9.0, "seed": seed})
    write_results(tmp_path / "r.csv", rows)
    results = load_results(tmp_path / "r.csv")
    assert len(results) == 6 and (results["n_seeds"] == 2).all()
    props = pd.DataFrame({"name": names + ["unused"], "paper_id": list("abcdef") + ["z"],
                          "slope": list(x) + [5.0], "anti": list(-x) + [0.0], "flat": [1.0] * 7,
                          "std": [0.2] * 7})  # a property named like a pandas aggregate must survive the join
    joined = join(results, props)
    assert len(joined) == 6
    corr = correlations(joined).set_index("property")
    assert corr.loc["slope", "pearson_r"] == pytest.approx(1.0)
    assert corr.loc["anti", "spearman_r"] == pytest.approx(-1.0)
    assert corr.loc["slope", "n"] == 6 and corr.loc["slope", "pearson_p"] < 1e-6
    assert np.isnan(corr.loc["flat", "pearson_r"])  # constant property: undefined, not 0
    assert "std" in corr.index and "n_seeds" not in corr.index
    fig = plot_property_vs_accuracy(joined, correlations(joined), task="t", protocol="linear")
    assert "r=1.00" in fig.axes[0].get_title()
    plot_correlation_heatmap(correlations(joined))


def test_missing_results_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="workbench finetune"):
        load_results(tmp_path / "none.csv")
    write_results(tmp_path / "r.csv", [{"pretrain_dataset": "a", "task": "t", "protocol": "linear",
                                         "metric": "loss", "value": 1.0, "seed": 0}])
    with pytest.raises(ValueError, match="no rows with metric=.test_accuracy."):
        load_results(tmp_path / "r.csv")


def test_source_comparison_groups_seeds_by_kind(tmp_path):
    from workbench.study import compare_sources, source_kind
    from workbench.viz.study import plot_source_comparison

    assert [source_kind(s) for s in ("none", "fractaldb", "procedural_audio_fm", "audio:synth_sounds")] == [
        "scratch", "image pattern", "procedural audio", "real audio"]
    rows = []
    for seed in (0, 1):
        for src, acc in (("none", 0.4), ("fractaldb", 0.5), ("procedural_audio", 0.55), ("audio:synth_sounds", 0.6)):
            for fold in (1, 2):  # folds average first
                rows.append({"pretrain_dataset": src, "task": "t", "protocol": "linear", "fold": fold,
                             "metric": "test_accuracy", "value": acc + 0.01 * seed + 0.02 * fold, "seed": seed})
    rows.append({**rows[0], "task": "other"})
    path = tmp_path / "r.csv"
    write_results(path, rows)
    table = compare_sources(path, task="t")
    assert len(table) == 8
    means = table.groupby("kind")["value"].mean()
    assert means["scratch"] == pytest.approx(0.435) and means["real audio"] == pytest.approx(0.635)
    fig = plot_source_comparison(table)
    assert len(fig.axes[0].patches) == 4
    with pytest.raises(ValueError, match="no test_accuracy rows"):
        compare_sources(path, task="missing")
