import csv
import json
import os

import pytest

from workbench.cli import build_parser, main, sweep_config
from workbench.sweep import PRESETS, SweepConfig, sweep

DONE_KEYS = {"dataset", "pretrain_dataset", "seed", "tasks", "protocol", "test_accuracy", "wall_s", "executor",
             "settings", "source"}


def small(out, datasets, **overrides):
    """A seconds-long sweep, in-process unless ``executor="papermill"`` is given."""
    return SweepConfig(**{"datasets": datasets, "tasks": "synth_sounds", "model": "nano", "steps": 2,
                          "batch_size": 2, "frames": 32, "epochs": 1, "seeds": "0", "scratch": False,
                          "floor": False, "device": "cpu", "out_dir": str(out), "executor": "python", **overrides})


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


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
    assert {r["pretrain_dataset"] for r in table} == {"fractaldb1k", "stat_spectrum"}
    assert json.loads((tmp_path / "stat_spectrum_seed0" / "done.json").read_text())["test_accuracy"] is not None


def test_unknown_dataset_fails_before_any_work(tmp_path, capsys):
    assert main(["sweep", "--datasets", "fractaldb,nope", "--out", str(tmp_path)]) == 2
    assert "unknown pattern dataset 'nope'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_python_executor_runs_patterns_and_audio_sources(tmp_path):
    records = sweep(small(tmp_path, "fractaldb,audio:synth_sounds"), progress=False)
    assert [(r["dataset"], r["pretrain_dataset"], r["skipped"]) for r in records] == [
        ("fractaldb1k", "fractaldb1k", False), ("audio_synth_sounds", "audio:synth_sounds", False)]
    for run in ("fractaldb1k_seed0", "audio_synth_sounds_seed0"):
        done = json.loads((tmp_path / run / "done.json").read_text())
        assert set(done) == DONE_KEYS and done["executor"] == "python" and 0 <= done["test_accuracy"]["synth_sounds"] <= 1
        assert done["settings"]["steps"] == 2
        heldout = json.loads((tmp_path / run / "pretrain" / "metrics.json").read_text())["heldout_mse"]
        assert set(heldout) == {"model", "zero", "visible_mean", "ratio"}
        assert not list((tmp_path / run).glob("*.ipynb"))
    table = rows(tmp_path / "results.csv")
    assert [(r["pretrain_dataset"], r["metric"], r["pretrain_steps"]) for r in table] == [
        ("fractaldb1k", "test_accuracy", "2"), ("audio:synth_sounds", "test_accuracy", "2")]

    again = sweep(small(tmp_path, "fractaldb,audio:synth_sounds"), progress=False)
    assert [r["skipped"] for r in again] == [True, True]
    with pytest.raises(ValueError, match="steps 2 there, 3 now"):  # other settings never reuse these runs
        sweep(small(tmp_path, "fractaldb", steps=3), progress=False)
    assert len(rows(tmp_path / "results.csv")) == 2


@pytest.mark.notebooks
def test_python_executor_writes_what_the_notebooks_write(tmp_path):
    for executor in ("papermill", "python"):
        sweep(small(tmp_path / executor, "stat_spectrum", executor=executor), progress=False)
    nb, py = (tmp_path / e / "stat_spectrum_seed0" for e in ("papermill", "python"))
    assert (nb / "02_pretrain.ipynb").exists() and not (py / "02_pretrain.ipynb").exists()
    done = [json.loads((run / "done.json").read_text()) for run in (nb, py)]
    assert set(done[0]) == set(done[1]) == DONE_KEYS
    assert done[0]["settings"] == done[1]["settings"]
    assert done[1]["test_accuracy"]["synth_sounds"] == pytest.approx(done[0]["test_accuracy"]["synth_sounds"], abs=1e-6)

    def config(run, part, section):
        c = json.loads((run / part / "config.json").read_text())[section]
        return {k: v for k, v in c.items() if k not in ("out_dir", "init", "results_csv")}

    assert config(py, "pretrain", "pretrain") == config(nb, "pretrain", "pretrain")
    assert config(py, "downstream_synth_sounds", "finetune") == config(nb, "downstream_synth_sounds", "finetune")
    metrics = [json.loads((run / "pretrain" / "metrics.json").read_text()) for run in (nb, py)]
    assert set(metrics[0]) == set(metrics[1])
    assert metrics[1]["final_loss"] == pytest.approx(metrics[0]["final_loss"], rel=1e-5)
    assert metrics[1]["heldout_mse"] == pytest.approx(metrics[0]["heldout_mse"], rel=1e-5)
    table = [rows(tmp_path / e / "results.csv") for e in ("papermill", "python")]
    same = lambda r: {k: v for k, v in r.items() if k not in ("time", "run_id", "pretrain_run")}  # noqa: E731
    assert [same(r) for r in table[1]] == [same(r) for r in table[0]]


def test_featvis_pool_reaches_the_runs_and_is_restored(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    sweep(small(tmp_path / "sweep", "featvis_random", featvis_pool=3), progress=False)
    assert [p.name for p in (cache / "feature_vis").glob("pool_*")] and all(
        "_n3_" in p.name for p in (cache / "feature_vis").glob("pool_*"))
    assert os.environ["WORKBENCH_POOL_SIZE"] == "4"  # conftest's value, back after the sweep
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())["featvis_pool"] == 3


def test_references_pools_and_several_tasks(tmp_path):
    """scratch and the floor run per seed without pre-training; a dataset pre-trains once (here
    from a pool) and is evaluated on every task; rows carry the label fraction."""
    records = sweep(small(tmp_path, "stat_spectrum", tasks="synth_sounds",
                          scratch=True, floor=True, pool=6, seeds="0,1", label_fraction=0.5), progress=False)
    assert [(r["dataset"], r["seed"]) for r in records] == [
        ("scratch", 0), ("floor", 0), ("stat_spectrum", 0), ("scratch", 1), ("floor", 1), ("stat_spectrum", 1)]
    assert not (tmp_path / "floor_seed0" / "pretrain").exists() and (tmp_path / "stat_spectrum_seed0" / "pretrain").is_dir()
    table = rows(tmp_path / "results.csv")
    assert {r["pretrain_dataset"] for r in table} == {"none", "floor", "stat_spectrum"}
    assert {r["label_fraction"] for r in table} == {"0.5"}
    config = json.loads((tmp_path / "stat_spectrum_seed0" / "pretrain" / "config.json").read_text())
    assert config["pretrain"]["pool"] == 6 and "#pool6" in config["source"]["identity"]
    # The sweep's real rows make one evaluation: the source is compared with its scratch and floor.
    from workbench.study import analyse
    report = analyse(tmp_path / "results.csv")
    assert len(report.rows) == 3 and set(report.rows["kind"]) == {"scratch", "floor", "image pattern"}
    source = report.rows[report.rows["kind"] == "image pattern"].iloc[0]
    assert source["n_seeds"] == 2 and source["diff_vs_scratch"] == source["diff_vs_scratch"]  # not NaN
    assert source["diff_vs_floor"] == source["diff_vs_floor"]


def test_presets_resolve_and_flags_override_them():
    args = build_parser().parse_args(["sweep", "--preset", "cpu", "--steps", "7", "--no-scratch"])
    cfg = sweep_config(args)
    assert (cfg.preset, cfg.steps, cfg.scratch) == ("cpu", 7, False)
    assert {k: getattr(cfg, k) for k in PRESETS.get("cpu") if k != "steps"} == {
        k: v for k, v in PRESETS.get("cpu").items() if k != "steps"}
    assert cfg.executor == PRESETS.get("cpu")["executor"]
    plain = sweep_config(build_parser().parse_args(["sweep"]))
    assert plain == SweepConfig() and plain.executor == "papermill"
    gpu = SweepConfig.from_preset("gpu", executor="papermill")
    assert (gpu.model, gpu.jobs, gpu.executor) == ("tiny", 4, "papermill")
    with pytest.raises(KeyError, match="Valid sweep presets: cpu, gpu"):
        SweepConfig.from_preset("laptop")


def test_bad_audio_spec_fails_before_any_work_naming_the_tasks(tmp_path, capsys):
    assert main(["sweep", "--datasets", "fractaldb,audio:synth_sound", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "audio:synth_sound" in err and "synth_sounds, spoken_digits" in err and "esc50" in err
    assert main(["sweep", "--datasets", "audio:esc50", "--out", str(tmp_path)]) == 2
    assert "audio:esc50:ROOT" in capsys.readouterr().err
    assert main(["sweep", "--datasets", "fractaldb,fractaldb1k", "--out", str(tmp_path)]) == 2
    assert "given twice" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def _image_folder(root, shade):
    from PIL import Image

    root.mkdir(parents=True)
    for i in range(4):
        Image.new("L", (32, 32), color=shade + 10 * i).save(root / f"{i}.png")
    return root


def test_two_folders_of_one_name_never_share_a_run(tmp_path):
    a = _image_folder(tmp_path / "a" / "good", 40)
    b = _image_folder(tmp_path / "b" / "good", 200)
    first = sweep(small(tmp_path / "out", str(a)), progress=False)
    second = sweep(small(tmp_path / "out", str(b)), progress=False)
    assert not first[0]["skipped"] and not second[0]["skipped"]  # /b/good was not "done before"
    assert first[0]["dataset"] != second[0]["dataset"] and all(r["dataset"].startswith("good-") for r in first + second)


def test_a_sweep_killed_between_its_rows_and_done_json_adds_no_duplicate(tmp_path, monkeypatch):
    import workbench.sweep as sw

    real = sw.atomic_write_json

    def killed(obj, path):
        if path.name == "done.json":
            raise KeyboardInterrupt  # the rows are in results.csv, done.json is not written
        real(obj, path)

    monkeypatch.setattr(sw, "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        sweep(small(tmp_path, "stat_spectrum"), progress=False)
    assert len(rows(tmp_path / "results.csv")) == 1
    monkeypatch.setattr(sw, "atomic_write_json", real)
    again = sweep(small(tmp_path, "stat_spectrum"), progress=False)
    assert [r["skipped"] for r in again] == [False]
    assert len(rows(tmp_path / "results.csv")) == 1  # the repeated run replaced its row


def test_parallel_jobs_run_the_same_plan_as_one_process(tmp_path):
    """jobs=2 runs each (dataset, seed) in a worker process; the records come back in plan order
    and the runs compute what one process computes (up to the threads' summation order). Audio
    sources ignore the pattern pool (they are fixed sets already); scratch gets the sweep's tokens."""
    common = dict(pool=4, tokens="frame", scratch=True, seeds="0,1")
    one = sweep(small(tmp_path / "one", "stat_spectrum,audio:synth_sounds", **common), progress=False)
    two = sweep(small(tmp_path / "two", "stat_spectrum,audio:synth_sounds", jobs=2, **common), progress=False)
    assert [(r["dataset"], r["seed"]) for r in two] == [(r["dataset"], r["seed"]) for r in one]
    for r in one:
        run = f"{r['dataset']}_seed{r['seed']}"
        if r["dataset"] == "scratch":
            config = json.loads((tmp_path / "two" / run / "downstream_synth_sounds" / "config.json").read_text())
            assert config["finetune"]["tokens"] == "frame"
            continue
        a, b = (json.loads((tmp_path / d / run / "pretrain" / "metrics.json").read_text()) for d in ("one", "two"))
        assert b["final_loss"] == pytest.approx(a["final_loss"], rel=1e-4)
        config = json.loads((tmp_path / "two" / run / "pretrain" / "config.json").read_text())
        assert config["pretrain"]["pool"] == (4 if r["dataset"] == "stat_spectrum" else 0)
        assert config["pretrain"]["tokens"] == "frame"
    assert len(rows(tmp_path / "two" / "results.csv")) == len(rows(tmp_path / "one" / "results.csv")) == 6
