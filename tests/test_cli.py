import json
import subprocess
import sys

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
