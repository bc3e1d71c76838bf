"""The floor (pooled log-mel statistics + logistic regression) on tasks whose answer is known:
it separates classes that differ in a time-pooled statistic, and cannot separate classes that
differ only in temporal order, which pooling throws away."""
import csv

import numpy as np
import pytest
import soundfile as sf

from workbench.audio import tasks
from workbench.train.finetune import FinetuneConfig, finetune
from workbench.train.floor import fit_floor, logmel_statistics

SR = 16_000


def two_tones(f0, f1, *, seed, seconds=0.505):
    """``f0`` Hz for the first half, then ``f1`` Hz, with 10 ms fades around each half and a
    little noise: swapping ``f0`` and ``f1`` keeps every frame's spectrum and changes only their
    order (8080 samples, so that the 25 ms / 10 ms frame grid is its own mirror image)."""
    rng = np.random.default_rng(seed)
    half = np.arange(int(seconds * SR / 2)) / SR
    fade = np.clip(np.minimum(half, half[-1] - half) / 0.01, 0, 1)
    wave = np.concatenate([fade * np.sin(2 * np.pi * f * half + rng.uniform(0, 2 * np.pi)) for f in (f0, f1)])
    return (0.5 * wave + 0.01 * rng.standard_normal(wave.size)).astype(np.float32)


def write_task(root, classes, *, n_train=12, n_test=6):
    for c, (f0, f1) in enumerate(classes):
        for split, n in (("train", n_train), ("test", n_test)):
            for k in range(n):
                path = root / split / f"class{c}" / f"{k}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                seed = 1000 * c + k + (500 if split == "test" else 0)
                jitter = np.random.default_rng(seed).uniform(0.85, 1.15)
                sf.write(str(path), two_tones(f0 * jitter, f1 * jitter, seed=seed), SR)
    return root


def run_floor(root, tmp_path, **kw):
    csv_path = tmp_path / "results.csv"
    m = finetune(FinetuneConfig(task="folder", root=str(root), init="floor", device="cpu",
                                out_dir=str(tmp_path / "floor"), results_csv=str(csv_path), **kw), progress=False)
    with open(csv_path, newline="") as f:
        return m, list(csv.DictReader(f))


def test_floor_separates_classes_that_differ_in_a_pooled_statistic(tmp_path):
    root = write_task(tmp_path / "pitch", [(400, 400), (1200, 1200), (3000, 3000)])  # steady tones
    m, rows = run_floor(root, tmp_path)
    assert m["test_accuracy"] == 1.0
    assert rows[0]["pretrain_dataset"] == "floor" and rows[0]["protocol"] == "linear"


def test_floor_cannot_see_temporal_order(tmp_path):
    """Low-then-high and high-then-low tone pairs have the same per-bin mean and std over time: the
    floor is at chance, which is what an encoder has to beat."""
    root = write_task(tmp_path / "order", [(500, 2000), (2000, 500)], n_train=16, n_test=16)
    m, _ = run_floor(root, tmp_path)
    assert m["test_accuracy"] <= 0.75


def test_floor_is_deterministic_and_honours_label_fraction(tmp_path):
    root = write_task(tmp_path / "pitch", [(400, 400), (1200, 1200), (3000, 3000)], n_train=10)
    split = tasks.make_split("folder", root=root)
    a = fit_floor(split.train, seed=0).predict_proba(logmel_statistics(split.test))
    b = fit_floor(split.train, seed=0).predict_proba(logmel_statistics(split.test))
    np.testing.assert_array_equal(a, b)
    m, rows = run_floor(root, tmp_path, label_fraction=0.2)
    assert m["per_fold"][0]["n_train"] == 6  # 2 of 10 clips per class
    assert float(rows[0]["label_fraction"]) == pytest.approx(0.2)
