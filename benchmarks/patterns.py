"""Throughput of every registered pattern generator in spectrogram geometry.

    python benchmarks/patterns.py --device cpu
    python benchmarks/patterns.py --device cuda --names fractaldb1k,shaders1k --json
    python benchmarks/patterns.py --device cuda --mae base   # does each generator keep up with training?

For each name: one warm-up call of ``workbench.patterns.generate(name, batch_size, frames=...)``
(timed as ``first_call_s``: it includes one-off work such as building a cache or compiling kernels),
then calls with fresh seeds until ``--min-time`` seconds and ``--repeats`` calls have passed; the
median call gives ``samples_per_s``. ``cached`` is the registry's flag: such a family serves samples
from an on-disk pool it renders once. With ``--mae PRESET`` the script also times a training step
(forward, backward, AdamW) of that model on the same batch shape and reports whether each generator
produces samples at least as fast as the step consumes them.

The issue's goal: on a CPU with 2 cores, >= 50 samples/s per generator (or cached); on a GPU, each
faster than a ``base`` MAE step consumes.
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


def time_generator(name: str, *, device: torch.device, batch_size: int, frames: int, repeats: int,
                   min_time: float) -> dict:
    """One row of the table for pattern ``name``."""
    from workbench import patterns

    spec = patterns.get(name)
    t0 = time.perf_counter()
    patterns.generate(name, batch_size, seed=0, device=device, frames=frames)
    _sync(device)
    first = time.perf_counter() - t0
    times: list[float] = []
    start = time.perf_counter()
    seed = 1
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        patterns.generate(name, batch_size, seed=seed, device=device, frames=frames)
        _sync(device)
        times.append(time.perf_counter() - t0)
        seed += 1
    warm = statistics.median(times)
    return {
        "name": spec.name, "paper_id": spec.paper_id, "family": spec.family, "kind": spec.kind,
        "cached": spec.cached, "device": str(device), "batch_size": batch_size, "frames": frames,
        "first_call_s": round(first, 4), "warm_call_s": round(warm, 4), "calls": len(times),
        "samples_per_s": round(batch_size / warm, 2), "first_call_samples_per_s": round(batch_size / first, 2),
    }


def time_mae_step(preset: str, *, device: torch.device, batch_size: int, frames: int, repeats: int) -> float:
    """Samples per second consumed by training steps of model ``preset`` (median of ``repeats``)."""
    from workbench import models

    model = models.build(preset).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    x = torch.rand(batch_size, 1, 128, frames, device=device)
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):  # as the engine
            loss = model(x).loss
        loss.backward()
        opt.step()
        _sync(device)
        if i > 0:  # the first step allocates and tunes kernels
            times.append(time.perf_counter() - t0)
    return batch_size / statistics.median(times)


def format_table(rows: list[dict], columns: list[str]) -> str:
    """Rows as a fixed-width text table with the given columns."""
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) if v.replace(".", "").isdigit() else v.ljust(w) for v, w in zip(row, widths))
              for row in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--names", default="", help="comma-separated pattern names (default: all registered)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--frames", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3, help="timed calls per generator, at least")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds of timed calls per generator, at least")
    p.add_argument("--mae", default="", help="also time a training step of this model preset (e.g. base)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--json", action="store_true", help="print one JSON list of rows instead of a table")
    args = p.parse_args(argv)

    from workbench import patterns

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = [n.strip() for n in args.names.split(",") if n.strip()] or patterns.names()
    for n in names:
        patterns.get(n)  # fail before timing anything when a name is wrong
    rows = []
    for n in names:
        rows.append(time_generator(n, device=device, batch_size=args.batch_size, frames=args.frames,
                                   repeats=args.repeats, min_time=args.min_time))
        print(f"timed {rows[-1]['name']}: {rows[-1]['samples_per_s']} samples/s", file=sys.stderr, flush=True)
    columns = ["name", "paper_id", "family", "cached", "first_call_s", "warm_call_s", "samples_per_s"]
    if args.mae:
        mae_rate = time_mae_step(args.mae, device=device, batch_size=args.batch_size, frames=args.frames,
                                 repeats=args.repeats)
        for r in rows:
            r["mae_preset"] = args.mae
            r["mae_samples_per_s"] = round(mae_rate, 2)
            r["keeps_up"] = r["samples_per_s"] >= mae_rate
        columns += ["mae_samples_per_s", "keeps_up"]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"device={device} batch_size={args.batch_size} frames={args.frames} threads={torch.get_num_threads()}")
        print(format_table(rows, columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
