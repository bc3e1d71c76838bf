"""Tiny fake copies of real dataset layouts, shared by the tests that read them."""

import csv

import numpy as np
import soundfile as sf

SR = 16_000


def write_wav(path, *, freq=440.0, seconds=0.25, sr=SR, seed=0):
    """A short tone plus a little noise, written as a real 16-bit WAV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    wave = 0.5 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    sf.write(str(path), wave.astype(np.float32), sr, subtype="PCM_16")
    return path


TONES = (300.0, 1500.0, 4000.0)  # the three classes of the tone task, in Hz


def tone(freq, *, seconds=0.3, seed=0):
    """A tone within 10% of ``freq`` (seeded) plus a little noise, float32 at 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f = freq * rng.uniform(0.9, 1.1)
    return (0.5 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def make_tone_task(root, *, n_train, n_test):
    """A separable toy task in the one-folder-per-class layout (``split/class<c>/<k>.wav``): the
    :data:`TONES`, ``n_train`` and ``n_test`` clips of each (0.3 s). Returns ``root``."""
    for c, freq in enumerate(TONES):
        for split, n in (("train", n_train), ("test", n_test)):
            for k in range(n):
                path = root / split / f"class{c}" / f"{k}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(str(path), tone(freq, seed=100 * c + k + (50 if split == "test" else 0)), SR)
    return root


def make_esc50(root, *, classes=("dog", "rain"), folds=5, freqs=None):
    """ESC-50's layout (``audio/*.wav`` + ``meta/esc50.csv``): one clip per class and fold, class
    ``k`` a tone at ``freqs[k]`` Hz (default ``300 + 2000 k``), so the classes are separable."""
    freqs = freqs or [300 + 2000 * k for k in range(len(classes))]
    rows = []
    for target, cat in enumerate(classes):
        for fold in range(1, folds + 1):
            name = f"{fold}-{100 + target}-A-0.wav"
            write_wav(root / "audio" / name, freq=freqs[target], seed=fold)
            rows.append([name, fold, target, cat, "False", 100 + target, "A"])
    (root / "meta").mkdir(parents=True, exist_ok=True)
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        w.writerows(rows)
    return root
