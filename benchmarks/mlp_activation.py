"""What the MLP's activation costs a transformer block: forward + backward of LN -> Linear ->
activation -> Linear + residual at the sizes of a ``base`` pre-training step, per activation.

    python benchmarks/mlp_activation.py --device cuda --tokens 131072 --compile

The matrix products are identical in every row; the difference between ``identity`` and ``gelu``
is what the element-wise work around the hidden ``[tokens, 4 * dim]`` tensor costs (memory
passes, the main gap between the GEMMs' speed and the step's MFU on a GPU). ``gelu_tanh`` is the
approximation whose fused GEMM epilogue cuBLASLt offers; the workbench uses the exact GELU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn as nn

ACTIVATIONS = {"identity": nn.Identity, "gelu": nn.GELU, "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
               "relu": nn.ReLU}


class MLPBlock(nn.Module):
    def __init__(self, dim: int, act: str) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), ACTIVATIONS[act](), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm(x))


def time_one(act: str, args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    block = MLPBlock(args.dim, act).to(device)
    fwd = torch.compile(block) if args.compile else block
    x = torch.randn(args.tokens, args.dim, device=device, requires_grad=True)
    use_bf16 = args.precision == "bf16"

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            y = fwd(x)
        y.float().sum().backward()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    sync()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    s = statistics.median(times)
    flops = 3 * 2 * 2 * args.tokens * args.dim * 4 * args.dim  # two products, forward + 2x backward
    return {"activation": act, "s": s, "tflops": flops / s / 1e12}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--tokens", type=int, default=8192, help="rows: batch x sequence length")
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--compile", action="store_true")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--activations", default="identity,gelu,gelu_tanh,relu")
    args = p.parse_args()
    names = [a.strip() for a in args.activations.split(",") if a.strip()]
    bad = [a for a in names if a not in ACTIVATIONS]
    if bad:
        raise SystemExit(f"unknown activations {bad}; valid: {', '.join(ACTIVATIONS)}")
    rows = [time_one(a, args) for a in names]
    base = rows[0]["s"]
    print(f"\nMLP block fwd+bwd, {args.tokens} x {args.dim} -> {4 * args.dim}, {args.device}, {args.precision}"
          f"{', compiled' if args.compile else ''}")
    print(f"{'activation':10s} {'ms':>8s} {'TFLOP/s':>8s} {'vs ' + rows[0]['activation']:>14s}")
    for r in rows:
        print(f"{r['activation']:10s} {1e3 * r['s']:8.2f} {r['tflops']:8.1f} {r['s'] / base:13.2f}x")


if __name__ == "__main__":
    main()
