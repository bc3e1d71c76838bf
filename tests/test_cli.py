import json
import subprocess
import sys

import pytest

from workbench.cli import main


def test_pretrain_cli_writes_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["pretrain", "--dataset", "fractaldb", "--model", "nano", "--steps", "2", "--batch-size", "2",
               "--frames", "32", "--out", str(out), "--no-progress", "--set", "dec_depth=2"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 2 and len(metrics["losses"]) == 2
    assert json.loads((out / "config.json").read_text())["model_config"]["dec_depth"] == 2
    assert (out / "checkpoint.pt").exists()
    rc = main(["pretrain", "--dataset", "fractaldb", "--model", "nano", "--steps", "3", "--batch-size", "2",
               "--frames", "32", "--out", str(out), "--no-progress", "--set", "dec_depth=2", "--resume"])
    assert rc == 0 and json.loads((out / "metrics.json").read_text())["steps"] == 3


def test_bad_names_give_one_clear_line(tmp_path, capsys):
    assert main(["pretrain", "--dataset", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown pattern dataset 'nope'") and "fractaldb1k" in err
    assert main(["pretrain", "--model", "huge", "--out", str(tmp_path / "x")]) == 2
    assert "Valid models: nano, tiny, small, base" in capsys.readouterr().err


def test_module_entry_point_lists_patterns():
    res = subprocess.run([sys.executable, "-m", "workbench", "patterns", "list"], capture_output=True, text=True,
                         check=True)
    assert "fractaldb1k" in res.stdout


def _flags(command):
    from workbench.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return {s for a in sub._actions for s in a.option_strings}, sub.format_help()


def test_every_config_field_is_a_flag_with_its_comment_as_help():
    import dataclasses

    from workbench.cli import flag_name
    from workbench.sweep import SweepConfig
    from workbench.train.finetune import FinetuneConfig
    from workbench.train.pretrain import PretrainConfig

    for command, cls in (("pretrain", PretrainConfig), ("finetune", FinetuneConfig), ("sweep", SweepConfig)):
        flags, help_text = _flags(command)
        wanted = {flag_name(f) for f in dataclasses.fields(cls) if f.metadata.get("cli", True)}
        assert wanted <= flags, (command, sorted(wanted - flags))
    flags, help_text = _flags("pretrain")
    assert {"--betas", "--min-lr-ratio", "--set", "--config"} <= flags
    assert "cosine floor as a fraction of the peak lr (default: 0.01)" in " ".join(help_text.split())
    _, help_text = _flags("finetune")
    assert "(default: runs/results.csv)" in " ".join(help_text.split())


def test_flags_reach_the_config_and_a_saved_config_replays(tmp_path):
    out = tmp_path / "run"
    assert main(["pretrain", "--dataset", "stat_spectrum", "--model", "nano", "--frames", "32", "--steps", "1",
                 "--batch-size", "2", "--betas", "0.8", "0.9", "--min-lr-ratio", "0.2", "--no-progress",
                 "--out", str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())["pretrain"]
    assert saved["betas"] == [0.8, 0.9] and saved["min_lr_ratio"] == 0.2
    again = tmp_path / "again"
    assert main(["pretrain", "--config", str(out), "--out", str(again), "--steps", "2", "--no-progress"]) == 0
    replayed = json.loads((again / "config.json").read_text())["pretrain"]
    assert {k: v for k, v in replayed.items() if k not in ("out_dir", "steps")} == {
        k: v for k, v in saved.items() if k not in ("out_dir", "steps")}
    assert replayed["steps"] == 2 and replayed["out_dir"] == str(again)


def test_set_refuses_keys_with_their_own_flag_and_unknown_options(tmp_path, capsys):
    assert main(["pretrain", "--set", "tokens=frame", "--out", str(tmp_path / "a")]) == 2
    assert "tokens has its own flag, use --tokens instead" in capsys.readouterr().err
    assert main(["pretrain", "--set", "enc_dpth=3", "--out", str(tmp_path / "b")]) == 2
    assert "'enc_dpth' is not a model option. Did you mean enc_depth" in capsys.readouterr().err


def test_bad_flag_values_are_named_by_argparse(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["pretrain", "--steps", "many"])
    assert "--steps" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["finetune", "--protocol", "probe"])
    assert "invalid choice: 'probe'" in capsys.readouterr().err


def test_set_with_a_wrong_type_says_how_to_write_it(tmp_path, capsys):
    assert main(["pretrain", "--set", "joint=yes", "--out", str(tmp_path / "a")]) == 2
    assert "--set joint=yes: joint takes bool, written as JSON true or false" in capsys.readouterr().err
    assert main(["pretrain", "--set", "enc_depth=2.5", "--out", str(tmp_path / "b")]) == 2
    assert "enc_depth takes int, written as a whole number such as 6" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_bad_files_and_folders_give_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 10)
    assert main(["finetune", "--task", "synth_sounds", "--init", str(bad), "--out", str(tmp_path / "ft")]) == 2
    assert "bad.pt is not a readable checkpoint" in capsys.readouterr().err
    assert main(["pretrain", "--dataset", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p")]) == 2
    assert f"dataset folder {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "ft").exists() and not (tmp_path / "p").exists()


def test_study_command_prints_one_row_per_source_and_setting(tmp_path, capsys):
    from workbench.results import append_results

    base = dict(time="t", task="x", protocol="linear", fold="none", metric="test_accuracy", model="nano", epochs=1)
    rows = []
    for seed in (0, 1, 2):
        for source, value in (("none", 0.5), ("fractaldb", 0.6), ("shaders1k", 0.55), ("floor", 0.4)):
            for epochs, shift in ((1, 0.0), (5, 0.2)):
                trained = 0.0 if source == "floor" else shift  # the floor trains no epochs
                rows.append({**base, "run_id": f"{source}{seed}{epochs}", "pretrain_dataset": source, "seed": seed,
                             "init": "scratch" if source == "none" else source, "epochs": epochs,
                             "value": value + trained + 0.01 * seed})
    append_results(tmp_path / "r.csv", rows)
    assert main(["study", str(tmp_path / "r.csv"), "--json", "--no-properties"]) == 0
    out = json.loads(capsys.readouterr().out)
    got = {(r["pretrain_dataset"], r["epochs"]): r for r in out["rows"]}
    assert set(got) == {(d, e) for d in ("none", "fractaldb1k", "shaders1k", "floor") for e in (1, 5)}  # none: scratch
    fdb = got["fractaldb1k", 5]
    assert fdb["n_seeds"] == 3 and fdb["mean"] == pytest.approx(0.81)
    assert fdb["diff_vs_scratch"] == pytest.approx(0.1) and fdb["ci_low"] <= fdb["mean"] <= fdb["ci_high"]
    assert {"diff_ci_low", "diff_ci_high", "p_adjusted", "significant"} <= set(fdb)
    assert fdb["diff_vs_floor"] == pytest.approx(0.4) and got["floor", 5]["mean"] == pytest.approx(0.41)
    assert [r["epochs"] for r in out["ranking"]] == [1, 5]  # one ranking per evaluation, never across settings
    assert out["ranking"][0]["kendalls_w"] == pytest.approx(1.0)  # fractaldb above shaders1k in every seed
    assert main(["study", str(tmp_path / "r.csv"), "--no-properties"]) == 0
    assert "fractaldb1k" in capsys.readouterr().out
    assert main(["study", str(tmp_path / "r.csv"), "--task", "y", "--no-properties"]) == 2
    assert "no test_accuracy rows for task='y'" in capsys.readouterr().err
