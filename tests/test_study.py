"""The study on results whose answers are known: references matched by evaluation and seed, the
planted effect found, the property correlation recovered, figures drawn."""

import numpy as np
import pandas as pd
import pytest

from workbench.results import RESULT_COLUMNS, append_results
from workbench.study import analyse, findings, source_kind, study_report
from workbench.viz.study import plot_forest, plot_property_vs_accuracy, plot_source_kinds

DATASETS = ["dead_leaves_squares", "stat_spectrum", "stylegan_random", "shaders1k", "fractaldb1k",
            "visual_atom1k"]
SLOPE = np.array([0.1, 0.5, 0.2, 0.9, 0.4, 0.7])  # a property; accuracy = 0.5 + 0.1 * property


def row(dataset, seed, value, **kw):
    base = dict(time="t", run_id=f"{dataset}-{seed}-{kw.get('task', 'x')}", task="x", protocol="linear", model="nano",
                epochs=20, lr=0.01, batch_size=32, frames=112, label_fraction=1.0, downstream_settings="d",
                pretrain_dataset=dataset, pretrain_steps="" if dataset in ("none", "floor") else 300,
                pretrain_settings="" if dataset in ("none", "floor") else "p", seed=seed, fold="none",
                metric="test_accuracy", value=value)
    return {**base, **kw}


def make_results(path, *, seeds=5, noise=0.005):
    rng = np.random.default_rng(0)
    offsets = rng.normal(0, 0.01, seeds)
    rows = []
    for s in range(seeds):
        rows.append(row("none", s, 0.5 + offsets[s] + rng.normal(0, noise)))
        rows.append(row("floor", s, 0.45 + rng.normal(0, noise)))
        for d, x in zip(DATASETS, SLOPE):
            rows.append(row(d, s, 0.5 + 0.1 * x + offsets[s] + rng.normal(0, noise)))
        rows.append(row("audio:x", s, 0.5 + offsets[s] + rng.normal(0, noise)))
        rows.append(row("fractaldb1k", s, 0.9, epochs=5))  # another evaluation: never mixed in
    append_results(path, rows)
    return path


def test_rows_reference_scratch_and_floor_of_the_same_evaluation_and_seeds(tmp_path):
    report = analyse(make_results(tmp_path / "r.csv"))
    main = report.rows[report.rows["epochs"] == 20].set_index("pretrain_dataset")
    assert set(main.index) == set(DATASETS) | {"none", "floor", "audio:x"}
    assert (main["n_seeds"] == 5).all()
    shaders = main.loc["shaders1k"]
    assert shaders["diff_vs_scratch"] == pytest.approx(0.09, abs=0.01) and shaders["significant"]
    assert shaders["ci_low"] < shaders["mean"] < shaders["ci_high"]
    assert shaders["diff_vs_floor"] == pytest.approx(0.14, abs=0.015)
    assert not main.loc["audio:x", "significant"]  # no effect planted there
    assert np.isnan(main.loc["none", "diff_vs_scratch"]) and main.loc["none", "kind"] == "scratch"
    other = report.rows[report.rows["epochs"] == 5].set_index("pretrain_dataset")
    # No scratch of 5 epochs; the floor (no epochs of its own) joins every evaluation of its data.
    assert set(other.index) == {"fractaldb1k", "floor"} and np.isnan(other.loc["fractaldb1k", "diff_vs_scratch"])
    assert other.loc["fractaldb1k", "diff_vs_floor"] == pytest.approx(0.45, abs=0.01)
    # The seed rows behind a selected evaluation hold its floor too (for the per-seed dots).
    assert set(report.select(epochs=5).seeds["pretrain_dataset"]) == {"fractaldb1k", "floor"}
    assert list(report.ranking["kendalls_w"] > 0.8) == [True]  # seeds agree on the planted order


def test_the_property_correlation_is_recovered_and_figures_drawn(tmp_path):
    # "mean" is a real image property (brightness): it must not be confused with the mean accuracy.
    props = pd.DataFrame({"name": DATASETS, "paper_id": list("aeioqp"), "slope": SLOPE, "noise":
                          np.random.default_rng(1).random(6), "mean": np.linspace(0.2, 0.7, 6)})
    report = analyse(make_results(tmp_path / "r.csv"), properties=props)
    corr = report.properties[report.properties["epochs"] == 20]
    slope = corr[corr["property"] == "slope"].iloc[0]
    assert slope["pearson_r"] > 0.97 and slope["n"] == 6 and slope["pearson_p"] < 0.01
    text = findings(report)
    assert any("beat scratch after Benjamini-Hochberg" in t for t in text)
    assert any("slope correlates with accuracy" in t for t in text)
    with pytest.raises(ValueError, match="2 evaluations of x \\(linear\\) differ in epochs"):
        plot_property_vs_accuracy(report, props, task="x", protocol="linear")
    report = report.select(epochs=20)
    plot_forest(report)
    fig = plot_property_vs_accuracy(report, props, task="x", protocol="linear")
    assert "r=0.9" in fig.axes[0].get_title() or "r=1.0" in fig.axes[0].get_title()
    plot_source_kinds(report, task="x", protocol="linear")


def test_source_kinds_and_clear_errors(tmp_path):
    assert [source_kind(s) for s in ("none", "floor", "fractaldb", "procedural_audio_fm", "audio:synth_sounds")] == [
        "scratch", "floor", "image pattern", "procedural audio", "real audio"]
    with pytest.raises(FileNotFoundError, match="workbench finetune"):
        study_report(tmp_path / "none.csv")
    make_results(tmp_path / "r.csv")
    with pytest.raises(ValueError, match="no test_accuracy rows for task='y'"):
        analyse(tmp_path / "r.csv", task="y")
    assert list(RESULT_COLUMNS)[:2] == ["time", "run_id"]
