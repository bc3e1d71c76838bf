"""Is the data path the bottleneck? Training steps/s with real sources vs synthetic tensors.

    python benchmarks/data_path.py --device cuda --model base --batch-size 128 --workers 0,4
    python benchmarks/data_path.py --device cpu --model tiny --batch-size 8 --frames 256 --names fractaldb

For each source (a pattern generator on the training device, or ``--folder`` images read on the
CPU) and each ``--workers`` count, runs ``--steps`` pre-training steps (forward, backward, fused
AdamW; bf16 autocast on CUDA) that take their batches from :class:`workbench.sources.Prefetcher`,
exactly as the engine does, and compares steps/s with the same loop fed one fixed random tensor
(``synthetic``). ``workers=0`` renders each batch in the loop; ``workers>0`` renders ahead in
background threads (each on its own CUDA stream). The goal: real data within 10% of synthetic.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(preset: str, *, device: torch.device, frames: int, compile_model: bool):
    from workbench import models

    torch.manual_seed(0)
    model = models.build(preset, frames=frames).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    fwd = torch.compile(model) if compile_model else model
    gen = torch.Generator().manual_seed(0)

    def step(x: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = fwd(x, generator=gen).loss
        loss.backward()
        opt.step()

    return step


def time_loop(step, batches, n: int, device: torch.device) -> float:
    """Steps per second over ``n`` steps after two warm-up steps."""
    it = iter(batches)
    for _ in range(2):
        step(next(it)[1])
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        step(next(it)[1])
    _sync(device)
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--model", default="tiny")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--frames", type=int, default=1024)
    p.add_argument("--names", default="fractaldb1k,shaders1k,stat_spectrum,procedural_audio",
                   help="comma-separated pattern names")
    p.add_argument("--folder", default="", help="also time a folder: images (read and resized on the CPU) or a "
                   "`patterns materialize --format npy` array")
    p.add_argument("--workers", default="0,4", help="comma-separated prefetch worker counts")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=1, help="repeat every measurement, keep the median")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from workbench.sources import Prefetcher, make_source

    device = torch.device(args.device)
    step = make_step(args.model, device=device, frames=args.frames, compile_model=args.compile)
    x = torch.randn(args.batch_size, 1, 128, args.frames, device=device)

    def synthetic():
        while True:
            yield 0, x

    def median_rate(batches_fn) -> float:
        return statistics.median(time_loop(step, batches_fn(), args.steps, device) for _ in range(args.rounds))

    base = median_rate(synthetic)
    rows = [{"source": "synthetic", "workers": "-", "steps_per_s": base, "vs_synthetic": 1.0}]
    print(f"synthetic: {base:.2f} steps/s", file=sys.stderr, flush=True)
    sources = [n.strip() for n in args.names.split(",") if n.strip()] + ([args.folder] if args.folder else [])
    for name in sources:
        src = make_source(name, frames=args.frames, seed=0, device=device)  # stats are computed here, untimed
        for w in (int(v) for v in args.workers.split(",")):
            def batches(w=w):
                return Prefetcher(src, args.batch_size, range(10**9), workers=w)
            rate = median_rate(batches)
            rows.append({"source": src.name, "workers": w, "steps_per_s": rate, "vs_synthetic": rate / base})
            print(f"{src.name} workers={w}: {rate:.2f} steps/s ({rate / base:.2f}x synthetic)",
                  file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"\n{args.model}, batch {args.batch_size}, 128x{args.frames}, {device}"
          f"{' (' + torch.cuda.get_device_name(device) + ')' if device.type == 'cuda' else ''}"
          f"{', compiled' if args.compile else ''}")
    print(f"{'source':24s} {'workers':>7s} {'steps/s':>8s} {'vs synthetic':>13s}")
    for r in rows:
        print(f"{r['source'][:24]:24s} {str(r['workers']):>7s} {r['steps_per_s']:8.2f} {r['vs_synthetic']:12.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
