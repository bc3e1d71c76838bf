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


def test_flop_count_includes_attention_on_the_cpu():
    # Fused SDPA (ours) and explicit q @ k^T (the reference) must be counted alike on the CPU.
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import torch
    from pretrain_step import count_flops

    q = torch.randn(2, 3, 64, 16, requires_grad=True)

    def fused(x):
        torch.nn.functional.scaled_dot_product_attention(x, x, x).sum().backward()

    def explicit(x):
        ((x @ x.transpose(-2, -1) * 16 ** -0.5).softmax(-1) @ x).sum().backward()

    fwd = 2 * (2 * 2 * 3 * 64 * 64 * 16)  # two products of 2 * 64 * 64 * 16 FLOPs for each of 2 x 3 heads
    assert count_flops(explicit, q) == 3 * fwd  # forward, then two products per forward product
    assert count_flops(fused, q) == 3 * fwd


def test_mlp_activation_benchmark_prints_a_row_per_activation():
    script = str(ROOT / "benchmarks" / "mlp_activation.py")
    res = subprocess.run([sys.executable, script, "--tokens", "64", "--dim", "16", "--precision", "fp32",
                          "--warmup", "0", "--repeats", "1", "--activations", "identity,gelu"],
                         capture_output=True, text=True, check=True)
    rows = [line.split()[0] for line in res.stdout.splitlines()[3:]]
    assert rows == ["identity", "gelu"]
    bad = subprocess.run([sys.executable, script, "--activations", "swish"], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown activations ['swish']" in bad.stderr and "gelu" in bad.stderr
