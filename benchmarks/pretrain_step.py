"""Time one pre-training step (forward, backward, AdamW) and its peak memory, per variant.

    python benchmarks/pretrain_step.py --model tiny --batch-size 8 --device cpu
    python benchmarks/pretrain_step.py --model base --batch-size 32 --device cuda --precision bf16 --json

Rows: MAE-AST vs the SSAST-style joint model, patch vs frame tokens, random vs chunk masking,
plus the public-reference MAE structure (explicit attention, fp32; ``benchmarks/reference_mae.py``).
Each variant runs in its own subprocess so peak memory is its own: on CUDA
``torch.cuda.max_memory_allocated``; on the CPU the growth of the process's peak RSS from just
before the first step (weights and the input batch excluded, activations, gradients and optimiser
state included). Compare ratios only within one run: machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = [  # (variant, tokens, masking)
    ("mae", "patch", "random"), ("joint", "patch", "random"),
    ("mae", "patch", "chunk"), ("joint", "patch", "chunk"),
    ("mae", "frame", "random"), ("joint", "frame", "random"),
    ("reference", "patch", "random"),
]


def _sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_one(args: argparse.Namespace) -> dict:
    """Measure a single variant in this process."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from workbench import models

    torch.manual_seed(0)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = models.config(args.model, tokens=args.tokens, masking=args.masking, joint=args.variant == "joint",
                        frames=args.frames, grad_checkpointing=args.grad_checkpointing)
    if args.variant == "reference":
        from reference_mae import ReferenceMAE

        model = ReferenceMAE(enc_dim=cfg.enc_dim, enc_depth=cfg.enc_depth, enc_heads=cfg.enc_heads,
                             dec_dim=cfg.dec_dim, dec_depth=cfg.dec_depth, dec_heads=cfg.dec_heads)
        use_bf16 = False  # the reference trains in fp32
    else:
        model = models.MaskedAutoencoder(cfg)
        use_bf16 = args.precision == "bf16"
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    x = torch.randn(args.batch_size, 1, 128, args.frames, device=device)
    gen = torch.Generator().manual_seed(0)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            out = model(x) if args.variant == "reference" else model(x, generator=gen).loss
        out.backward()
        opt.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(args.warmup):
        step()
    _sync(device)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    if device.type == "cuda":
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    return {"variant": args.variant, "tokens": args.tokens, "masking": args.masking, "model": args.model,
            "batch_size": args.batch_size, "frames": args.frames, "device": str(device),
            "precision": "fp32" if not use_bf16 else "bf16", "step_s": statistics.median(times),
            "step_s_min": min(times), "peak_mem_mb": peak,
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--frames", type=int, default=1024)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--variants", default="all", help="comma-separated variant:tokens:masking, or all")
    p.add_argument("--grad-checkpointing", action="store_true")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--one", nargs=3, metavar=("VARIANT", "TOKENS", "MASKING"), help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.one:
        args.variant, args.tokens, args.masking = args.one
        print(json.dumps(run_one(args)))
        return
    variants = VARIANTS if args.variants == "all" else [tuple(v.split(":")) for v in args.variants.split(",")]
    rows = []
    passthrough = [a for a in sys.argv[1:] if a not in ("--json",)]
    for variant, tokens, masking in variants:
        res = subprocess.run([sys.executable, __file__, *passthrough, "--one", variant, tokens, masking],
                             capture_output=True, text=True)
        if res.returncode != 0:
            print(f"{variant}/{tokens}/{masking} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        if not args.json:
            print(f"  measured {variant:9s} {tokens:5s} {masking:6s} {rows[-1]['step_s']:.3f} s/step", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    base = {(r["tokens"], r["masking"]): r for r in rows if r["variant"] == "mae"}
    print(f"\n{args.model}, batch {args.batch_size}, 128x{args.frames}, {args.device}, {args.precision}")
    print(f"{'variant':10s} {'tokens':6s} {'masking':7s} {'step_s':>8s} {'peak_mem_mb':>12s} {'vs mae (time, mem)':>20s}")
    for r in rows:
        ref = base.get((r["tokens"], r["masking"]))
        ratio = f"{r['step_s'] / ref['step_s']:.2f}x, {r['peak_mem_mb'] / max(ref['peak_mem_mb'], 1e-9):.2f}x" if ref else ""
        print(f"{r['variant']:10s} {r['tokens']:6s} {r['masking']:7s} {r['step_s']:8.3f} {r['peak_mem_mb']:12.1f} {ratio:>20s}")


if __name__ == "__main__":
    main()
