"""The benchmark scripts run and print the documented JSON rows (no timing is asserted)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pretrain_step_benchmark_json_rows():
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "pretrain_step.py"), "--model", "nano", "--batch-size", "1",
         "--frames", "32", "--warmup", "0", "--repeats", "1", "--json",
         "--variants", "mae:patch:random,joint:frame:random,reference:patch:random"],
        capture_output=True, text=True, check=True)
    rows = json.loads(res.stdout)
    assert [(r["variant"], r["tokens"]) for r in rows] == [("mae", "patch"), ("joint", "frame"), ("reference", "patch")]
    for r in rows:
        assert r["step_s"] > 0 and "peak_mem_mb" in r and r["masking"] == "random"


def test_mlp_activation_benchmark_prints_a_row_per_activation():
    script = str(ROOT / "benchmarks" / "mlp_activation.py")
    res = subprocess.run([sys.executable, script, "--tokens", "64", "--dim", "16", "--precision", "fp32",
                          "--warmup", "0", "--repeats", "1", "--activations", "identity,gelu"],
                         capture_output=True, text=True, check=True)
    rows = [line.split()[0] for line in res.stdout.splitlines()[3:]]
    assert rows == ["identity", "gelu"]
    bad = subprocess.run([sys.executable, script, "--activations", "swish"], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown activations ['swish']" in bad.stderr and "gelu" in bad.stderr
