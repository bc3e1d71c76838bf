"""Procedural audio throughput: the batched torch source vs the one-clip-at-a-time reference.

    python benchmarks/procedural_audio.py --device cpu
    python benchmarks/procedural_audio.py --device cpu --json
    python benchmarks/procedural_audio.py --device cuda --mixes full,harmonic,fm,pulse,noise

Both produce model inputs of 128 mel x 1024 frames, log-mel included:

* ``per_clip``: :mod:`per_clip_reference` (AudioPG's approach: numpy, one clip at a time, one voice
  per clip, Kaldi fbank per clip) on the CPU, 10.24 s clips padded to 1024 frames;
* ``batched``: ``workbench.patterns.generate("procedural_audio", batch, frames=1024)`` (10.255 s
  clips: several voices of all primitive kinds per clip, batched synthesis and log-mel, min-max
  scaling) on ``--device``.

The machine is shared and noisy, so the two run interleaved in ``--rounds`` rounds and each row
reports the median round. Rows: ``impl``, ``device``, ``mix``, ``clips_per_s`` and ``ms_per_clip``
(wall clock), ``cpu_ms_per_clip`` (CPU time this process spent per clip, all threads: less
sensitive to other load on a shared machine), ``speedup_vs_per_clip`` (batched / per-clip clips per
second, from the same run).
The issue's goals: on the CPU, batched >= per-clip; on a GPU, >= 10x the per-clip CPU rate.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import torch


def _load_sibling(name: str):
    """Import ``benchmarks/<name>.py`` (benchmarks are scripts, not a package) without touching sys.path."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


per_clip_reference = _load_sibling("per_clip_reference")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_batched(mix: str, *, device: torch.device, batch_size: int, frames: int, seed: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one ``generate`` call of ``batch_size`` clips."""
    from workbench import patterns

    name = "procedural_audio" if mix == "full" else f"procedural_audio_{mix}"
    t0, c0 = time.perf_counter(), time.process_time()
    x = patterns.generate(name, batch_size, seed=seed, device=device, frames=frames)
    _sync(device)
    elapsed = time.perf_counter() - t0, time.process_time() - c0
    if x.shape != (batch_size, 1, 128, frames) or not bool(torch.isfinite(x).all()):
        raise RuntimeError(f"{name} returned {tuple(x.shape)} or non-finite values")
    return elapsed


def time_per_clip(clips: int, *, seconds: float, seed: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) for ``clips`` reference clips, each rendered and turned into a
    log-mel on its own."""
    t0, c0 = time.perf_counter(), time.process_time()
    x = per_clip_reference.generate(clips, seed=seed, seconds=seconds)
    elapsed = time.perf_counter() - t0, time.process_time() - c0
    if x.shape != (clips, 1, per_clip_reference.TARGET_FRAMES, 128):
        raise RuntimeError(f"per-clip reference returned {tuple(x.shape)}")
    return elapsed


def format_table(rows: list[dict], columns: list[str]) -> str:
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="cpu", help="torch device for the batched source (cpu, cuda)")
    p.add_argument("--mixes", default="full", help="comma-separated batched mixes: full,harmonic,fm,pulse,noise")
    p.add_argument("--batch-size", type=int, default=32, help="clips per batched generate() call")
    p.add_argument("--per-clip-clips", type=int, default=16, help="reference clips per round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (median reported)")
    p.add_argument("--frames", type=int, default=1024, help="log-mel frames of the batched source")
    p.add_argument("--seconds", type=float, default=10.24, help="clip length of the per-clip reference")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--json", action="store_true", help="print one JSON list of rows instead of a table")
    args = p.parse_args(argv)

    from workbench.audio.synth import MIXES
    from workbench.patterns import procedural_audio

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    mixes = [m.strip() for m in args.mixes.split(",") if m.strip()]
    bad = [m for m in mixes if m not in MIXES]
    if bad:
        raise SystemExit(f"unknown mix(es) {bad}; valid: {', '.join(MIXES)}")

    # Warm-up: imports, FFT plans, caches, CUDA context.
    time_per_clip(1, seconds=args.seconds, seed=10_000)
    for mix in mixes:
        time_batched(mix, device=device, batch_size=min(4, args.batch_size), frames=args.frames, seed=10_000)

    per_clip_rates: list[float] = []
    per_clip_cpu: list[float] = []
    batched_rates: dict[str, list[float]] = {m: [] for m in mixes}
    batched_cpu: dict[str, list[float]] = {m: [] for m in mixes}
    for r in range(args.rounds):
        wall, cpu = time_per_clip(args.per_clip_clips, seconds=args.seconds, seed=r)
        per_clip_rates.append(args.per_clip_clips / wall)
        per_clip_cpu.append(1000 * cpu / args.per_clip_clips)
        for mix in mixes:
            wall, cpu = time_batched(mix, device=device, batch_size=args.batch_size, frames=args.frames, seed=r)
            batched_rates[mix].append(args.batch_size / wall)
            batched_cpu[mix].append(1000 * cpu / args.batch_size)
        if not args.json:
            print(f"round {r + 1}/{args.rounds}: per_clip {per_clip_rates[-1]:.1f} clips/s, "
                  + ", ".join(f"batched[{m}] {v[-1]:.1f} clips/s" for m, v in batched_rates.items()),
                  file=sys.stderr)

    ref = statistics.median(per_clip_rates)
    threads = torch.get_num_threads()
    rows = [{
        "impl": "per_clip", "device": "cpu", "mix": "audiopg", "batch_size": 1,
        "seconds": args.seconds, "frames": per_clip_reference.TARGET_FRAMES,
        "clips_timed": args.per_clip_clips * args.rounds, "threads": threads,
        "clips_per_s": round(ref, 2), "ms_per_clip": round(1000 / ref, 2),
        "cpu_ms_per_clip": round(statistics.median(per_clip_cpu), 2), "speedup_vs_per_clip": 1.0,
    }]
    samples = procedural_audio.samples_for_frames(args.frames)
    for mix, rates in batched_rates.items():
        rate = statistics.median(rates)
        rows.append({
            "impl": "batched", "device": str(device), "mix": mix, "batch_size": args.batch_size,
            "seconds": round(samples / 16000, 4), "frames": args.frames,
            "clips_timed": args.batch_size * args.rounds, "threads": threads,
            "clips_per_s": round(rate, 2), "ms_per_clip": round(1000 / rate, 2),
            "cpu_ms_per_clip": round(statistics.median(batched_cpu[mix]), 2),
            "speedup_vs_per_clip": round(rate / ref, 2),
        })
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows, ["impl", "device", "mix", "batch_size", "seconds", "frames", "threads",
                                  "clips_per_s", "ms_per_clip", "cpu_ms_per_clip", "speedup_vs_per_clip"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
