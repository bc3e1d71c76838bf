"""Write a registered pattern dataset to disk as a folder of spectrogram-geometry images.

``python -m workbench patterns materialize NAME --num N --out DIR`` calls :func:`materialize`.
The folder is what :class:`workbench.sources.images.ImageFolder` reads: grey 8-bit images
``128 x frames`` (row 0 = mel bin 0), one sub-folder per category when the dataset has categories
(``label_042/`` for 1,000 categories: zero-padded so sorted names follow the category ids), else
flat; files are named by their zero-padded global index. Reading an image back gives exactly the generated sample
quantised to ``round(255 x) / 255``.

Sample ``i`` belongs to batch ``i // batch_size``, rendered by
``generate_with_labels(name, batch_size, seed=batch_seed(seed, b))``, so a folder is a pure
function of ``(name, seed, frames, batch_size)``; the first batch is exactly
``generate(name, batch_size, seed=seed)``. A rerun skips every batch whose files all exist, so an
interrupted run resumes where it stopped (images are written to a temporary name and renamed, so a
file that exists is complete). ``materialize.json`` records the name, seed, frames, batch size,
count, labels and the dataset's normalisation statistics.

``fmt="npy"`` writes the same samples as one array instead, ``images.npy`` (uint8
``[num, 128, frames]``, memory-mapped) plus ``labels.npy`` (int64, -1 without categories): the
format for GPU pre-training, where decoding thousands of PNGs per second would starve the model.
:class:`workbench.sources.images.ArraySource` reads it; resumption continues after the last batch recorded
in the manifest's ``batches_done``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from workbench import patterns
from workbench.rundir import run_lock
from workbench.seeding import STATS_SEED, step_seed
from workbench.sources.base import STATS_SAMPLES
from workbench.sources.pattern import pattern_stats

FORMATS = ("png", "bmp", "npy")  # lossless: JPEG would break the round trip; npy = one memory-mapped array
MANIFEST = "materialize.json"
_SEED_STRIDE = 1_000_003  # batch b uses seed + b * stride: batch 0 is generate(name, bs, seed=seed)


SEED_SCHEMES = ("batch", "stream")  # materialize's own batch seeds, or the pre-training stream's shard seeds


def seed_of_batch(scheme: str, seed: int, batch: int) -> int:
    """The generator seed of batch ``batch``: :func:`batch_seed` (``"batch"``), or the seed of shard
    ``batch`` of a pre-training stream (``"stream"``: :func:`workbench.seeding.step_seed`), which
    makes sample ``i`` the stream's sample ``i`` when the stream's batch size is the folder's."""
    return batch_seed(seed, batch) if scheme == "batch" else step_seed(seed, batch)


def batch_seed(seed: int, batch: int) -> int:
    """Seed of batch ``batch`` of a folder materialised with ``seed``."""
    return seed + batch * _SEED_STRIDE


def _quantise(x: torch.Tensor) -> np.ndarray:
    """``[n, 1, H, W]`` in [0, 1] -> uint8 ``[n, H, W]`` (round to nearest)."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)[:, 0].cpu().numpy()


def sample_path(out_dir: Path, index: int, *, num: int, label: int | None, num_classes: int | None,
                fmt: str = "png") -> Path:
    """Where sample ``index`` of a ``num``-sample folder goes (a label folder when labelled)."""
    stem = f"{index:0{max(len(str(num - 1)), 6)}d}.{fmt}"
    if label is None:
        return out_dir / stem
    width = len(str(max((num_classes or 1) - 1, label)))
    return out_dir / f"label_{label:0{width}d}" / stem


def _write_image(path: Path, arr: np.ndarray, fmt: str) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(arr).save(tmp, format=fmt.upper())  # 2-D uint8 -> mode "L"
    os.replace(tmp, path)


def _existing_samples(out: Path, fmt: str) -> dict[int, Path]:
    """Index -> path of every sample image already under ``out`` (names are global indices)."""
    found = {}
    for p in out.rglob(f"*.{fmt}"):
        if p.stem.isdigit():
            found[int(p.stem)] = p
    return found


def _complete(path: Path, num: int) -> bool:
    """Whether the folder already holds a finished materialisation of ``num`` samples."""
    if not path.exists():
        return False
    old = json.loads(path.read_text())
    return bool(old.get("complete")) and old.get("count") == num


def _check_manifest(path: Path, expect: dict) -> None:
    """A rerun into an existing folder must use the same recipe, or files would mix two datasets."""
    if not path.exists():
        return
    old = json.loads(path.read_text())
    for key in ("name", "seed", "frames", "batch_size", "format", "seeds"):
        if old.get(key, "batch" if key == "seeds" else None) != expect[key]:
            raise ValueError(
                f"{path.parent} already holds a materialisation with {key}={old.get(key)!r}, not "
                f"{expect[key]!r}; use another --out or the same settings to resume")


def materialize(name: str, num: int, out_dir: str | Path, *, seed: int = 0, frames: int = 1024,
                fmt: str = "png", batch_size: int = 64, progress: bool = True,
                device: str | torch.device = "cpu", stats_samples: int | None = None, seeds: str = "batch") -> Path:
    """Write ``num`` samples of pattern ``name`` under ``out_dir``; returns ``out_dir`` as a Path.

    ``batch_size`` is capped at ``num`` and recorded; resuming needs the same (capped) value.
    The normalisation statistics are :func:`workbench.sources.pattern.pattern_stats` (what training on the
    generator uses) from ``stats_samples`` samples (default: the same number training uses).

    Each sample is the ``[1, 128, frames]`` spectrogram-shaped input of
    :func:`workbench.patterns.generate`, stored as a grey 8-bit ``fmt`` image (``"png"`` or
    ``"bmp"``). See the module docstring for the layout, seeding and resumption; ``seeds``
    (:data:`SEED_SCHEMES`) picks the batch seeds (:func:`seed_of_batch`). The folder has one
    writer at a time, and a folder holding files that no materialisation wrote is refused.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if seeds not in SEED_SCHEMES:
        raise ValueError(f"seeds must be one of {', '.join(SEED_SCHEMES)}, got {seeds!r}")
    for key, value in (("num", num), ("frames", frames), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive int, got {value!r}")
    spec = patterns.get(name)
    batch_size = min(batch_size, num)  # a small folder need not render a large batch
    out = Path(out_dir)
    _check_foreign_files(out)
    manifest = {"name": spec.name, "seed": seed, "frames": frames, "n_mels": 128, "batch_size": batch_size,
                "format": fmt, "seeds": seeds, "family": spec.family, "paper_id": spec.paper_id,
                "num_classes": spec.num_classes}
    _check_manifest(out / MANIFEST, manifest)
    if fmt == "npy" and _complete(out / MANIFEST, num):
        return out  # done before: nothing to render or rewrite (an image folder re-checks its files)
    with run_lock(out, what="materialisation"):
        if fmt == "npy":
            _materialize_array(spec, num, out, manifest, seed=seed, device=device, progress=progress)
            labels_present = None
        else:
            labels_present = _materialize_images(spec, num, out, manifest, seed=seed, device=device,
                                                 progress=progress)
        return _finish(spec, num, out, manifest, frames=frames, device=device, stats_samples=stats_samples,
                       labels_present=labels_present)


def _check_foreign_files(out: Path) -> None:
    """Refuse a folder with files but no manifest: they were not written by a materialisation."""
    if not out.is_dir() or (out / MANIFEST).exists():
        return
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != ".lock")
    if files:
        raise ValueError(f"{out} holds files that `patterns materialize` did not write ({', '.join(files[:3])}"
                         f"{', ...' if len(files) > 3 else ''}); choose a new or empty folder")


def _materialize_images(spec, num: int, out: Path, manifest: dict, *, seed: int, device, progress: bool) -> int | None:
    """The image layout: one file per sample, skipping samples already written; returns the number
    of category folders written (None for a dataset without categories)."""
    fmt, batch_size, frames = manifest["format"], manifest["batch_size"], manifest["frames"]
    labelled = spec.num_classes is not None
    (out / MANIFEST).write_text(json.dumps({**manifest, "complete": False}, indent=2) + "\n")
    existing = _existing_samples(out, fmt)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=num, desc=f"materialize {spec.name}", unit="img")
    for b in range(-(-num // batch_size)):
        start = b * batch_size
        count = min(batch_size, num - start)
        if all(i in existing for i in range(start, start + count)):
            if bar is not None:
                bar.update(count)
            continue
        # Always render the full batch so sample i does not depend on num.
        batch = patterns.generate_with_labels(spec.name, batch_size, seed=seed_of_batch(manifest["seeds"], seed, b),
                                              frames=frames, device=device)
        arrs = _quantise(batch.images[:count])
        labels = batch.labels[:count].tolist() if labelled and batch.labels is not None else [None] * count
        for j in range(count):
            if start + j not in existing:
                path = sample_path(out, start + j, num=num, label=labels[j], num_classes=spec.num_classes, fmt=fmt)
                _write_image(path, arrs[j], fmt)
                existing[start + j] = path
        if bar is not None:
            bar.update(count)
    if bar is not None:
        bar.close()
    labels_present = {p.parent.name for i, p in existing.items() if i < num and p.parent != out}
    return len(labels_present) if labelled else None


def _finish(spec, num: int, out: Path, manifest: dict, *, frames: int, device, stats_samples: int | None,
            labels_present: int | None) -> Path:
    """Add the normalisation statistics and mark the manifest complete."""
    stats_samples = STATS_SAMPLES if stats_samples is None else stats_samples
    stats = pattern_stats(spec.name, frames=frames, device=device, n=stats_samples)
    manifest.update(count=num, complete=True, labels_present=labels_present,
                    norm_stats={"mean": stats.mean, "std": stats.std, "samples": stats_samples,
                                "seed": STATS_SEED})
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def _materialize_array(spec, num: int, out: Path, manifest: dict, *, seed: int, device, progress: bool) -> None:
    """The ``fmt="npy"`` layout: render batch by batch into memory-mapped ``images.npy``/``labels.npy``."""
    bs, frames = manifest["batch_size"], manifest["frames"]
    old = json.loads((out / MANIFEST).read_text()) if (out / MANIFEST).exists() else {}
    done = old.get("batches_done", 0) if old.get("count_target") == num else 0
    mode = "r+" if done and (out / "images.npy").exists() else "w+"
    images = np.lib.format.open_memmap(out / "images.npy", mode=mode, dtype=np.uint8, shape=(num, 128, frames))
    labels = np.lib.format.open_memmap(out / "labels.npy", mode=mode, dtype=np.int64, shape=(num,))
    n_batches = -(-num // bs)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=num, initial=min(done * bs, num), desc=f"materialize {spec.name}", unit="img")
    for b in range(done, n_batches):
        start = b * bs
        count = min(bs, num - start)
        batch = patterns.generate_with_labels(spec.name, bs, seed=seed_of_batch(manifest["seeds"], seed, b),
                                              frames=frames, device=device)
        images[start:start + count] = _quantise(batch.images[:count])
        labels[start:start + count] = (batch.labels[:count].cpu().numpy() if batch.labels is not None else -1)
        if b % 16 == 15 or b == n_batches - 1:  # record progress only for data that reached the file
            images.flush()
            labels.flush()
            (out / MANIFEST).write_text(json.dumps({**manifest, "complete": False, "count_target": num,
                                                    "batches_done": b + 1}, indent=2) + "\n")
        if bar is not None:
            bar.update(count)
    if bar is not None:
        bar.close()
    del images, labels
