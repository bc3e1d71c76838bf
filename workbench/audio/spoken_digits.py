"""Embedded task ``spoken_digits``: "zero".."nine" spoken by espeak-ng, cached as 16 kHz WAVs.

A *voice* is an espeak-ng voice variant (``m3``, ``f2``, ``klatt``, ``whisper``, ...) spoken with
an English accent (``en-us``, ``en-gb-scotland``, ...). The split is by variant: the variants of
the test set are never heard in training, so the task measures generalisation to unseen speakers.
Each (voice, digit) is rendered several times with a random speed and pitch, placed at a random
onset in a 1 s clip, peak-scaled and given faint white noise (all from ``seed``).

The clips are written once under ``$WORKBENCH_CACHE/spoken_digits/`` (default
``~/.cache/workbench``) with a ``manifest.json``; later runs only read that folder and need no
espeak-ng.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from workbench.audio.frontend import SAMPLE_RATE, load_audio
from workbench.files import cache_dir

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CLIP_SECONDS = 1.0
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
           "en-us-nyc")
# Variants shipped with espeak-ng >= 1.49 (``espeak-ng --voices=variant``): distinct timbres.
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt",
            "klatt2", "klatt3", "croak", "whisper", "grandma", "grandpa")
SPEED_RANGE = (120, 220)  # words per minute (espeak-ng default 175)
PITCH_RANGE = (20, 80)  # 0-99 (default 50)
MANIFEST_VERSION = 2

INSTALL_HINT = ("spoken_digits needs the espeak-ng speech synthesiser, which was not found on PATH. "
                "Install it with `apt-get install espeak-ng` (Debian/Ubuntu), `brew install espeak-ng` "
                "(macOS) or `conda install -c conda-forge espeak-ng`, or use the synth_sounds task, "
                "which needs nothing.")


class EspeakNotFound(RuntimeError):
    """espeak-ng is not installed (the message says how to install it)."""


@dataclass(frozen=True)
class SpokenDigit:
    path: Path
    label: int  # index into DIGITS
    split: str  # "train" | "test"
    voice: str  # espeak-ng voice, "<accent>+<variant>"
    speed: int
    pitch: int


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def voices(*, seed: int = 0, accents_per_variant: int = 2, test_fraction: float = 0.25,
           variants: Sequence[str] = VARIANTS) -> tuple[list[str], list[str]]:
    """``(train_voices, test_voices)``: each variant with ``accents_per_variant`` seeded accents;
    a seeded ``test_fraction`` of the variants (at least one, never all) is held out for test."""
    if len(variants) < 2:
        raise ValueError(f"need at least two variants (one for train, one for test), got {list(variants)}")
    if not 1 <= accents_per_variant <= len(ACCENTS):
        raise ValueError(f"accents_per_variant must be in 1..{len(ACCENTS)}, got {accents_per_variant}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    variants = list(rng.permutation(list(variants)))
    n_test = min(len(variants) - 1, max(1, int(round(len(variants) * test_fraction))))
    out: tuple[list[str], list[str]] = ([], [])
    for i, variant in enumerate(variants):
        for accent in rng.choice(ACCENTS, size=accents_per_variant, replace=False):
            out[i < n_test].append(f"{accent}+{variant}")
    return out


def _say(word: str, voice: str, speed: int, pitch: int, out: Path) -> None:
    cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), word]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
        raise RuntimeError(f"espeak-ng failed for voice {voice!r} ({' '.join(cmd)}): "
                           f"exit {proc.returncode}, {proc.stderr.strip() or 'no output file'}")


def _place(word: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The word at a random onset in a 1 s clip, peak U(0.3, 0.9), white noise at -60..-40 dBFS."""
    n = int(SAMPLE_RATE * CLIP_SECONDS)
    nz = np.flatnonzero(np.abs(word) > 1e-3 * np.abs(word).max())
    word = word[nz[0]:nz[-1] + 1][:n] if nz.size else word[:n]  # espeak's leading/trailing silence
    clip = np.zeros(n, dtype=np.float32)
    onset = int(rng.integers(0, n - word.size + 1))
    clip[onset:onset + word.size] = word / max(np.abs(word).max(), 1e-6) * rng.uniform(0.3, 0.9)
    clip += rng.standard_normal(n).astype(np.float32) * 10 ** (rng.uniform(-60, -40) / 20)
    return np.clip(clip, -1.0, 1.0)


def make_spoken_digits(*, seed: int = 0, renditions: int = 2, accents_per_variant: int = 2,
                       test_fraction: float = 0.25, variants: Sequence[str] = VARIANTS,
                       root: str | Path | None = None, progress: bool = False) -> list[SpokenDigit]:
    """Render (or read from the cache) the spoken-digit clips, sorted by split, voice, digit.

    ``renditions`` clips per (voice, digit); defaults give 40 voices (30 train, 10 test) x 10
    digits x 2 = 800 clips (about 15 s to render on two idle cores). ``root`` overrides the cache
    folder. Raises :class:`EspeakNotFound` when the clips are not cached and
    espeak-ng is missing.
    """
    if renditions < 1:
        raise ValueError(f"renditions must be >= 1, got {renditions}")
    train_v, test_v = voices(seed=seed, accents_per_variant=accents_per_variant, test_fraction=test_fraction,
                             variants=variants)
    params = dict(version=MANIFEST_VERSION, seed=seed, renditions=renditions, train=train_v, test=test_v,
                  speed=SPEED_RANGE, pitch=PITCH_RANGE, sample_rate=SAMPLE_RATE)
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    folder = Path(root) if root is not None else cache_dir() / "spoken_digits" / f"seed{seed}-{digest}"
    manifest = folder / "manifest.json"
    if manifest.is_file():
        items = [SpokenDigit(**{**d, "path": folder / d["path"]}) for d in json.loads(manifest.read_text())["clips"]]
        if all(it.path.is_file() for it in items):
            return items
    if not espeak_available():
        raise EspeakNotFound(INSTALL_HINT)
    if folder.exists() and any(folder.iterdir()) and not manifest.is_file():
        raise FileExistsError(f"{folder} exists and is not a spoken_digits cache (no manifest.json); "
                              "choose an empty or new folder")
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    jobs = [(split, v, d, r) for split, vs in (("train", train_v), ("test", test_v)) for v in vs
            for d in range(len(DIGITS)) for r in range(renditions)]
    rng = np.random.default_rng(seed)
    speeds = rng.integers(*SPEED_RANGE, size=len(jobs), endpoint=True).tolist()
    pitches = rng.integers(*PITCH_RANGE, size=len(jobs), endpoint=True).tolist()
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Render into a temporary sibling, then rename: concurrent runs never see a half-written set.
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".tmp", dir=folder.parent))

    def render(k: int) -> dict:
        split, voice, digit, r = jobs[k]
        name = f"{split}/{voice.replace('+', '_')}/{DIGITS[digit]}_{r}.wav"
        _render_clip(DIGITS[digit], voice, speeds[k], pitches[k], tmp / name,
                     np.random.default_rng([seed, k]), scratch=tmp / f"raw{k}.wav")
        return dict(path=name, label=digit, split=split, voice=voice, speed=speeds[k], pitch=pitches[k])

    try:
        # espeak-ng runs as subprocesses, so threads render clips in parallel.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            records = list(tqdm(pool.map(render, range(len(jobs))), total=len(jobs),
                                desc="espeak-ng spoken_digits", disable=not progress))
        (tmp / "manifest.json").write_text(json.dumps({"params": params, "clips": records}, indent=1))
        if manifest.is_file():  # another process finished the same set meanwhile: keep theirs, readers may be on it
            records = json.loads(manifest.read_text())["clips"]
        else:
            if folder.exists():
                shutil.rmtree(folder)
            tmp.rename(folder)
    except OSError:
        if not manifest.is_file():  # unless another process finished the same set first
            raise
        records = json.loads(manifest.read_text())["clips"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [SpokenDigit(**{**d, "path": folder / d["path"]}) for d in records]


def _render_clip(word: str, voice: str, speed: int, pitch: int, out: Path, rng: np.random.Generator, *,
                 scratch: Path) -> None:
    """espeak-ng -> 16 kHz -> placed in a 1 s clip (see :func:`_place`) -> 16-bit WAV at ``out``."""
    import soundfile as sf
    from scipy.signal import resample_poly

    _say(word, voice, speed, pitch, scratch)
    data, sr = sf.read(str(scratch), dtype="float32", always_2d=True)
    scratch.unlink()
    # Polyphase resampling: torchaudio's sinc resampler is ~40x slower for 22050 -> 16000 Hz.
    g = np.gcd(sr, SAMPLE_RATE)
    wave = resample_poly(data.mean(axis=1), SAMPLE_RATE // g, sr // g).astype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), _place(wave, rng), SAMPLE_RATE, subtype="PCM_16")


def load_spoken_digits(split: str, *, seed: int = 0) -> tuple[list, list[int], list[str]]:
    """Waveforms ``[16000]`` (float32 tensors), labels and class names of one split, for notebooks."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    items = [it for it in make_spoken_digits(seed=seed) if it.split == split]
    return [load_audio(it.path) for it in items], [it.label for it in items], list(DIGITS)


__all__ = ["ACCENTS", "CLIP_SECONDS", "DIGITS", "EspeakNotFound", "SpokenDigit", "VARIANTS",
           "espeak_available", "load_spoken_digits", "make_spoken_digits", "voices"]
