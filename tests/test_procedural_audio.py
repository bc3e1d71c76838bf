"""The procedural-audio pattern sources through the registry, and the speed benchmark's JSON rows."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import workbench.patterns as patterns
import workbench.patterns.procedural_audio as procedural_audio  # registers the sources
from workbench.audio.frontend import frames_for_seconds, logmel_batch

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["procedural_audio", "procedural_audio_harmonic", "procedural_audio_fm", "procedural_audio_pulse",
         "procedural_audio_noise"]


def test_sources_are_registered_as_spectrogram_kind():
    for name in NAMES:
        spec = patterns.get(name)
        assert spec.kind == "spectrogram" and spec.family == "procedural_audio" and spec.paper_id is None


def test_generate_gives_finite_minmax_scaled_logmels():
    x = patterns.generate("procedural_audio", 2, frames=128)
    assert x.shape == (2, 1, 128, 128) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    flat = x.flatten(1)
    assert torch.allclose(flat.min(dim=1).values, torch.zeros(2))
    assert torch.allclose(flat.max(dim=1).values, torch.ones(2))


def test_deterministic_by_seed_and_batch_of_one():
    a = patterns.generate("procedural_audio", 2, seed=3, frames=64)
    b = patterns.generate("procedural_audio", 2, seed=3, frames=64)
    c = patterns.generate("procedural_audio", 1, seed=4, frames=64)
    assert torch.equal(a, b) and not torch.equal(a[:1], c)
    assert c.shape == (1, 1, 128, 64) and torch.isfinite(c).all()


def test_each_variant_renders_its_own_content():
    out = {name: patterns.generate(name, 1, seed=0, frames=64) for name in NAMES}
    for name, x in out.items():
        assert x.shape == (1, 1, 128, 64) and torch.isfinite(x).all() and float(x.std()) > 0, name
    assert len({tuple(x.flatten()[:500].tolist()) for x in out.values()}) == len(NAMES)


def test_clip_length_matches_the_frame_count():
    for frames in (1, 64, 1024):
        samples = procedural_audio.samples_for_frames(frames)
        assert frames_for_seconds(samples / 16_000) == frames
    with pytest.raises(ValueError):
        procedural_audio.samples_for_frames(0)


def test_synthesize_waveforms_are_what_generate_turns_into_logmels():
    frames = 64
    seconds = procedural_audio.samples_for_frames(frames) / 16_000
    waves = procedural_audio.synthesize(2, seconds=seconds, generator=torch.Generator().manual_seed(9))
    assert waves.shape == (2, procedural_audio.samples_for_frames(frames))
    batch = patterns.get("procedural_audio").fn(2, frames=frames, generator=torch.Generator().manual_seed(9),
                                                  device=torch.device("cpu"))
    assert batch.labels is None
    assert torch.allclose(batch.images[:, 0], logmel_batch(waves))


def _load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_prints_json_rows_for_both_implementations(capsys):
    bench = _load_benchmark("procedural_audio")
    assert bench.main(["--device", "cpu", "--json", "--rounds", "1", "--batch-size", "2", "--per-clip-clips", "1",
                       "--frames", "64", "--seconds", "0.66"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["impl"] for r in rows] == ["per_clip", "batched"]
    for r in rows:
        assert r["clips_per_s"] > 0 and r["cpu_ms_per_clip"] > 0 and r["device"] == "cpu" and "speedup_vs_per_clip" in r


def test_per_clip_reference_renders_one_clip_and_its_fbank():
    reference = _load_benchmark("per_clip_reference")
    wave = reference.render_clip(np.random.default_rng(0), seconds=0.7)
    assert wave.shape == (11200,) and np.isfinite(wave).all() and abs(float(np.abs(wave).max()) - 1.0) < 1e-5
    assert reference.clip_to_fbank(wave).shape == (1, 1024, 128)
