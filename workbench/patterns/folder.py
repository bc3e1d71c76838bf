"""Image-folder dataset: a downloaded copy of a real synthetic dataset (Shaders21k, FractalDB, ...)
or a folder written by ``python -m workbench patterns materialize``.

Images are found recursively (PNG, JPG, JPEG, BMP, WEBP). When the root holds one sub-folder per
class, the sub-folder is the label (index in the sorted names, or NNN for folders named
``label_NNN`` as materialize writes them); otherwise every label is -1.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from workbench.patterns.convert import to_spectrogram

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
