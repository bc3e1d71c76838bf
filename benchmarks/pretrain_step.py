"""Time one pre-training step (forward, backward, AdamW) and its peak memory, per variant.

    python benchmarks/pretrain_step.py --model tiny --batch-size 8 --device cpu
    python benchmarks/pretrain_step.py --model base --batch-size 64 --device cuda --precision bf16 --compile
    python benchmarks/pretrain_step.py --model base --device cuda --precision bf16 --max-batch --variants mae:patch:random

Rows: MAE-AST vs the SSAST-style joint model, patch vs frame tokens, random vs chunk masking,
plus the public-reference MAE structure (explicit attention, fp32; ``benchmarks/reference_mae.py``).
Each variant runs in its own subprocess so peak memory is its own: on CUDA
``torch.cuda.max_memory_allocated``; on the CPU the growth of the process's peak RSS from just
before the first step (weights and the input batch excluded, activations, gradients and optimiser
state included). Compare ratios only within one run: machines are noisy.

``flops`` is one step's forward + backward model FLOPs counted by ``torch.utils.flop_counter``
(matrix products and attention, fused or explicit counted alike, without the fused backward's
recomputation; the optimiser and element-wise work are not counted, as in the usual MFU
definition), ``tflops`` = flops / step time, and ``mfu`` = tflops / the peak of the precision
the variant runs in (``--peak-tflops``, or the dense tensor-core peak looked up for H100/H200:
989.4 TFLOP/s bf16, 494.7 TF32, 66.9 plain fp32; unknown devices leave it blank).
``--compile`` wraps our model (not the reference) in ``torch.compile`` (``--compile-mode`` for
e.g. ``max-autotune-no-cudagraphs``); ``--set KEY=VALUE`` overrides our model's config (the
reference follows the widths and depths); ``--max-batch`` doubles then bisects the batch size to
the largest one whose step fits in memory (CUDA only) and reports it per variant, with
``--grad-checkpointing`` showing what activation checkpointing buys.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

VARIANTS = [  # (variant, tokens, masking)
    ("mae", "patch", "random"), ("joint", "patch", "random"),
    ("mae", "patch", "chunk"), ("joint", "patch", "chunk"),
    ("mae", "frame", "random"), ("joint", "frame", "random"),
    ("reference", "patch", "random"),
]


# Dense (no sparsity) peaks of the SXM parts, TFLOP/s, by precision.
PEAKS = {"H100": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9}, "H200": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9}}


def peak_tflops(device, precision: str, override: float = 0.0) -> float | None:
    """The peak to divide by for MFU, or None when unknown (CPU, other GPUs without --peak-tflops)."""
    import torch
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peaks in PEAKS.items():
        if key in name:
            if precision == "fp32" and torch.backends.cuda.matmul.allow_tf32:
                precision = "tf32"
            return peaks[precision]
    return None


def _sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize()


def _build(args, device):
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from workbench import models

    torch.manual_seed(0)
    cfg = models.config(args.model, **{"tokens": args.tokens, "masking": args.masking, "joint": args.variant == "joint",
                                        "frames": args.frames, "grad_checkpointing": args.grad_checkpointing,
                                        **dict(args.set)})
    if args.variant == "reference":
        from reference_mae import ReferenceMAE

        model = ReferenceMAE(enc_dim=cfg.enc_dim, enc_depth=cfg.enc_depth, enc_heads=cfg.enc_heads,
                             dec_dim=cfg.dec_dim, dec_depth=cfg.dec_depth, dec_heads=cfg.dec_heads)
        use_bf16 = False  # the reference trains in fp32
    else:
        model = models.MaskedAutoencoder(cfg)
        use_bf16 = args.precision == "bf16"
    model = model.to(device)
    # Our engine's optimiser (fused AdamW, also on the CPU); the reference keeps torch's default loop.
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=args.variant != "reference")
    fwd = torch.compile(model, mode=args.compile_mode) if args.compile and args.variant != "reference" else model
    gen = torch.Generator().manual_seed(0)

    def make_step(f):
        def step(x):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                out = f(x) if args.variant == "reference" else f(x, generator=gen).loss
            out.backward()
            opt.step()
        return step

    # FLOPs are counted on the eager model: the counter sees the same matrix products either way.
    return model, make_step(fwd), make_step(model), use_bf16


def find_max_batch(step, make_x, start: int, device) -> int:
    """Largest batch whose step runs without running out of memory (doubling, then bisection)."""
    import torch

    def fits(b: int) -> bool:
        try:
            step(make_x(b))
            _sync(device)
            return True
        except torch.OutOfMemoryError:
            return False
        finally:
            torch.cuda.empty_cache()

    lo, hi = 0, max(1, start)
    while fits(hi):
        lo, hi = hi, hi * 2
    while hi - lo > max(1, lo // 32):  # within ~3%
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def run_one(args: argparse.Namespace) -> dict:
    """Measure a single variant in this process."""
    import torch

    from workbench.profiling import count_flops, fastest_seconds

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, step, eager_step, use_bf16 = _build(args, device)

    def make_x(b: int):
        return torch.randn(b, 1, 128, args.frames, device=device)

    x = make_x(args.batch_size)
    precision = "bf16" if use_bf16 else "fp32"
    row = {"variant": args.variant, "tokens": args.tokens, "masking": args.masking, "model": args.model,
           "batch_size": args.batch_size, "frames": args.frames, "device": str(device),
           "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "precision": precision, "compiled": bool(args.compile and args.variant != "reference"),
           "grad_checkpointing": args.grad_checkpointing, "compile_mode": args.compile_mode,
           "overrides": dict(args.set),
           "params_m": sum(p.numel() for p in model.parameters()) / 1e6}
    if args.max_batch:
        if device.type != "cuda":
            raise SystemExit("--max-batch needs a CUDA device (a CPU run would swap, not fail)")
        row["max_batch"] = find_max_batch(step, make_x, args.batch_size, device)
        return row

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = fastest_seconds({"step": lambda: step(x)}, repeats=args.repeats, warmup=args.warmup,
                            sync=lambda: _sync(device))["step"]
    if device.type == "cuda":
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    step_s = statistics.median(times)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=acts) as prof:
            for _ in range(3):
                step(x)
            _sync(device)
        key = "cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        print(f"--- profile: {args.variant} {args.tokens} {args.masking}, 3 steps ---\n"
              + prof.key_averages().table(sort_by=key, row_limit=20, max_name_column_width=60), file=sys.stderr)
    flops = count_flops(eager_step, x) if args.flops else 0
    peak_tf = peak_tflops(device, precision, args.peak_tflops)
    tflops = flops / step_s / 1e12 if flops else None
    row.update({"step_s": step_s, "step_s_min": min(times), "samples_per_s": args.batch_size / step_s,
                "peak_mem_mb": peak, "flops": flops or None, "tflops": tflops, "peak_tflops": peak_tf,
                "mfu": tflops / peak_tf if tflops and peak_tf else None})
    return row


def main() -> None:
    from workbench.cli import key_value

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
    p.add_argument("--compile", action="store_true", help="torch.compile our model (not the reference)")
    p.add_argument("--compile-mode", default=None,
                   help="torch.compile mode, e.g. max-autotune-no-cudagraphs (default: inductor's default)")
    p.add_argument("--set", action="append", default=[], type=key_value, metavar="KEY=VALUE",
                   help="model config override for our variants, e.g. --set dec_dim=512 (repeatable)")
    p.add_argument("--no-flops", dest="flops", action="store_false", help="skip the FLOP count (and MFU)")
    p.add_argument("--peak-tflops", type=float, default=0.0, help="peak for MFU (default: looked up)")
    p.add_argument("--profile", action="store_true", help="print the top kernels of 3 profiled steps")
    p.add_argument("--rounds", type=int, default=1, help="measure every variant this many times, round-robin")
    p.add_argument("--max-batch", action="store_true", help="report the largest batch that fits (CUDA)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--one", nargs=3, metavar=("VARIANT", "TOKENS", "MASKING"), help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.one:
        args.variant, args.tokens, args.masking = args.one
        print(json.dumps(run_one(args)))
        return
    variants = VARIANTS if args.variants == "all" else [tuple(v.split(":")) for v in args.variants.split(",")]
    passthrough = [a for a in sys.argv[1:] if a not in ("--json",)]
    if args.variants != "all":  # the child measures one variant; drop the list it was given
        i = passthrough.index("--variants") if "--variants" in passthrough else None
        if i is not None:
            del passthrough[i:i + 2]
    # Rounds go round-robin over the variants, so a burst of load on a shared machine hits them alike.
    runs: dict[tuple, list[dict]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant, tokens, masking in variants:
            res = subprocess.run([sys.executable, __file__, *passthrough, "--one", variant, tokens, masking],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                print(f"{variant}/{tokens}/{masking} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
                continue
            runs[(variant, tokens, masking)].append(json.loads(res.stdout.strip().splitlines()[-1]))
            if args.profile:
                print(res.stderr[res.stderr.find("--- profile"):], file=sys.stderr)
    rows = []
    for key, got in runs.items():
        if not got:
            continue
        if args.max_batch or len(got) == 1:
            rows.append(got[0])
            continue
        row = dict(got[0])
        row["rounds"] = [r["step_s"] for r in got]
        for k in ("step_s", "peak_mem_mb"):
            row[k] = statistics.median(r[k] for r in got)
        row["samples_per_s"] = row["batch_size"] / row["step_s"]
        if row.get("flops"):
            row["tflops"] = row["flops"] / row["step_s"] / 1e12
            row["mfu"] = row["tflops"] / row["peak_tflops"] if row.get("peak_tflops") else None
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    if args.max_batch:
        print(f"\n{args.model}, 128x{args.frames}, {args.device}, {args.precision}, "
              f"grad checkpointing {'on' if args.grad_checkpointing else 'off'}")
        for r in rows:
            print(f"{r['variant']:10s} {r['tokens']:6s} {r['masking']:7s} largest batch {r['max_batch']}")
        return
    base = {(r["tokens"], r["masking"]): r for r in rows if r["variant"] == "mae"}
    print(f"\n{args.model}, batch {args.batch_size}, 128x{args.frames}, {rows[0]['device_name'] if rows else args.device}, "
          f"{args.precision}{', compiled' if args.compile else ''}"
          f"{f' ({args.compile_mode})' if args.compile and args.compile_mode else ''}"
          f"{''.join(f', {k}={v}' for k, v in args.set)}")
    print(f"{'variant':10s} {'tokens':6s} {'masking':7s} {'prec':5s} {'step_s':>8s} {'samples/s':>10s} "
          f"{'peak_mem_mb':>12s} {'TFLOP/s':>8s} {'MFU':>6s} {'vs mae (time, mem)':>20s}")
    for r in rows:
        ref = base.get((r["tokens"], r["masking"]))
        ratio = f"{r['step_s'] / ref['step_s']:.2f}x, {r['peak_mem_mb'] / max(ref['peak_mem_mb'], 1e-9):.2f}x" if ref else ""
        tf = f"{r['tflops']:.1f}" if r["tflops"] else "-"
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] else "-"
        print(f"{r['variant']:10s} {r['tokens']:6s} {r['masking']:7s} {r['precision']:5s} {r['step_s']:8.3f} "
              f"{r['samples_per_s']:10.1f} {r['peak_mem_mb']:12.1f} {tf:>8s} {mfu:>6s} {ratio:>20s}")


if __name__ == "__main__":
    main()
