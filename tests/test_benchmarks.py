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
