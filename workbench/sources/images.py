"""Images on disk as pre-training sources: a folder of image files, or the memory-mapped array that
``patterns materialize --format npy`` writes.

:class:`ImageFolder` reads a downloaded copy of a real synthetic dataset (Shaders21k, FractalDB,
...) or a folder written by ``python -m workbench patterns materialize``. Images are found
recursively (PNG, JPG, JPEG, BMP, WEBP). When the root holds one sub-folder per class, the
sub-folder is the label (index in the sorted names, or NNN for folders named ``label_NNN`` as
materialize writes them); otherwise every label is -1. :class:`FolderSource` and
:class:`ArraySource` serve either as pre-training batches: every epoch is a seeded permutation, so
a batch depends only on ``(seed, shard)``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from workbench.audio.frontend import NormStats, compute_norm_stats, normalize
from workbench.patterns.convert import to_spectrogram
from workbench.seeding import STATS_SEED, stream_indices
from workbench.sources.base import STATS_SAMPLES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class ImageFolderError(ValueError):
    """The folder is missing, empty, or holds an unreadable image (the message names it)."""


def read_image(path: str | Path) -> torch.Tensor:
    """One image file as float32 ``[C, H, W]`` in [0, 1] (C = 1 for grey files, else 3)."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            im = im.convert("L") if im.mode in ("L", "I;16", "I", "1") else im.convert("RGB")
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except Exception as exc:  # PIL raises UnidentifiedImageError, OSError, ...
        raise ImageFolderError(f"cannot read image {path}: {exc}") from exc
    t = torch.from_numpy(arr.copy())
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1)


class ImageFolder(torch.utils.data.Dataset):
    """Images under ``root`` as spectrogram-shaped ``[1, n_mels, frames]`` in [0, 1] with labels."""

    def __init__(self, root: str | Path, *, frames: int = 1024, n_mels: int = 128) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ImageFolderError(f"image folder not found: {self.root}")
        self.files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise ImageFolderError(
                f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {self.root}: point dataset= at a "
                "folder of PNG/JPG files, or use a registered pattern name")
        subdirs = sorted({p.relative_to(self.root).parts[0] for p in self.files if len(p.relative_to(self.root).parts) > 1})
        top_level = any(len(p.relative_to(self.root).parts) == 1 for p in self.files)
        self.classes = subdirs if subdirs and not top_level else []
        # A materialised pattern folder names classes label_NNN: keep the true category ids.
        if self.classes and all(re.fullmatch(r"label_\d+", c) for c in self.classes):
            index = {c: int(c.split("_")[1]) for c in self.classes}
        else:
            index = {c: i for i, c in enumerate(self.classes)}
        self.labels = [index[p.relative_to(self.root).parts[0]] if self.classes else -1 for p in self.files]
        self.frames, self.n_mels = frames, n_mels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = read_image(self.files[i])
        return to_spectrogram(img[None], frames=self.frames, n_mels=self.n_mels)[0], self.labels[i]

    @property
    def num_classes(self) -> int | None:
        return (max(self.labels) + 1) if self.classes else None


@dataclass
class FolderSource:
    """A folder of images (see :class:`ImageFolder`)."""

    root: Path
    frames: int
    seed: int
    device: torch.device
    stats: NormStats | None = None

    def __post_init__(self) -> None:
        self.dataset = ImageFolder(self.root, frames=self.frames)
        self.name = str(self.root)
        self.device = torch.device(self.device)
        if self.stats is None:
            n = min(len(self.dataset), STATS_SAMPLES)
            idx = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(STATS_SEED))[:n]
            self.stats = compute_norm_stats(self.dataset[int(i)][0] for i in idx)

    def indices(self, shard: int, batch_size: int) -> list[int]:
        return stream_indices(len(self.dataset), self.seed, shard, batch_size)

    def batch(self, shard: int, batch_size: int) -> torch.Tensor:
        x = torch.stack([self.dataset[i][0] for i in self.indices(shard, batch_size)])
        return normalize(x, self.stats).to(self.device)


@dataclass
class ArraySource:
    """A materialised ``images.npy`` (uint8 ``[N, 128, T]``, memory-mapped), sampled like a folder.

    Reading rows of a memory-mapped array costs a copy, not a decode, so this keeps up with a
    ``base`` model on a GPU where most generators cannot; batches are pinned and copied
    asynchronously, then scaled and normalised on the device.
    """

    root: Path
    frames: int
    seed: int
    device: torch.device
    stats: NormStats | None = None

    def __post_init__(self) -> None:
        path = self.root / "materialize.json"
        try:
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is missing or not readable JSON ({exc}); rerun `patterns materialize` "
                             "into a new folder") from None
        if not manifest.get("complete"):
            raise ValueError(f"{self.root} is an unfinished materialisation: rerun the same "
                             "`patterns materialize` command to complete it")
        self.images = np.load(self.root / "images.npy", mmap_mode="r", allow_pickle=False)
        if self.images.shape[-1] != self.frames:
            raise ValueError(f"{self.root} holds {self.images.shape[-1]}-frame samples, not frames={self.frames}; "
                             "materialise it again with --frames or train with the matching --frames")
        self.name = str(self.root)
        self.device = torch.device(self.device)
        if self.stats is None:
            self.stats = NormStats(mean=manifest["norm_stats"]["mean"], std=manifest["norm_stats"]["std"])

    def batch(self, shard: int, batch_size: int) -> torch.Tensor:
        idx = np.asarray(stream_indices(len(self.images), self.seed, shard, batch_size))
        order = np.argsort(idx)  # read the file in ascending order, then restore the batch order
        rows = np.empty((batch_size, *self.images.shape[1:]), dtype=np.uint8)
        rows[order] = self.images[idx[order]]
        x = torch.from_numpy(rows)[:, None]
        if self.device.type == "cuda":  # pinned, so the copy overlaps the step running on the GPU
            x = x.pin_memory().to(self.device, non_blocking=True)
        else:
            x = x.to(self.device)
        return normalize(x.float() / 255.0, self.stats)


__all__ = ["ArraySource", "FolderSource", "IMAGE_SUFFIXES", "ImageFolder", "ImageFolderError", "read_image"]
