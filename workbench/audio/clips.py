"""Audio clips as model inputs: the clip record, the in-memory log-mel cache, and the dataset that
turns clips into normalised ``[1, 128, frames]`` log-mels.

Log-mels are cached in memory (full length, before cropping) up to ``WORKBENCH_MEMCACHE_MB``
(default 2048) so later epochs and repeated runs in one process skip the audio decoding. Clips are
start-cropped or zero-padded in the log-mel domain (AST) by the front-end's ``crop_or_pad``.
"""

from __future__ import annotations

import math
import os
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from workbench.audio.frontend import (
    AudioLoadError, NormStats, compute_norm_stats, crop_or_pad, fbank, frames_for_seconds, load_audio, normalize,
)
from workbench.seeding import STATS_SEED

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".au", ".aiff", ".aif")
TOKEN_MULTIPLE = 16  # frames are rounded up to this so 16x16 patches tile the input
STATS_MAX_CLIPS = 2000  # training clips used for a task's normalisation statistics
MEMCACHE_ENV = "WORKBENCH_MEMCACHE_MB"


def clip_frames(seconds: float) -> int:
    """Frames for a clip of ``seconds``, rounded up to a multiple of 16 (1 s -> 112, 5 s -> 512)."""
    return int(math.ceil(frames_for_seconds(seconds) / TOKEN_MULTIPLE) * TOKEN_MULTIPLE)



def audio_files(folder: Path) -> list[Path]:
    """Every audio file (by suffix, :data:`AUDIO_SUFFIXES`) below ``folder``, sorted. A sub-folder
    that cannot be read is an error naming it, not a silent skip."""
    def fail(exc: OSError) -> None:
        raise AudioLoadError(f"cannot read the folder {exc.filename}: {exc.strerror or exc}") from None

    found = [Path(top) / name for top, _, names in os.walk(folder, onerror=fail) for name in names]
    return sorted(p for p in found if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


# ---- data model ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Clip:
    """One labelled example. Exactly one of ``path`` (an audio file) and ``wave`` (in-memory
    16 kHz mono ``[samples]``) is set. ``label`` is a class id, or a tuple of ids for multi-label
    tasks. ``group`` is the fold id (int) for cross-validated tasks, else the split name."""

    key: str  # unique and stable: the in-memory log-mel cache is keyed by it for in-memory waves
    label: int | tuple[int, ...]
    group: int | str
    path: Path | None = None
    wave: torch.Tensor | None = field(default=None, repr=False, compare=False)


# ---- in-memory log-mel cache --------------------------------------------------------------------
_CACHE: dict[tuple, torch.Tensor] = {}
_CACHE_BYTES = 0


def _cache_limit() -> int:
    return int(float(os.environ.get(MEMCACHE_ENV) or "2048") * 2**20)


def clear_cache() -> None:
    """Drop every cached log-mel (e.g. after editing audio files in place)."""
    global _CACHE_BYTES
    _CACHE.clear()
    _CACHE_BYTES = 0


@contextmanager
def single_thread():
    """Run small tensor work on one intra-op thread. One clip's fbank (or a linear head's step) is
    too little work to share; on a busy machine the extra threads make it ~20x slower (measured:
    300 one-second clips, 0.8 s vs 21 s with 2 threads on 2 loaded cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def clip_fbank(clip: Clip) -> torch.Tensor:
    """Full-length un-normalised log-mel ``[frames, 128]`` of a clip, from the memory cache when
    possible. Files are keyed by path, size and mtime, so edited files are re-read."""
    global _CACHE_BYTES
    if clip.path is not None:
        try:
            st = clip.path.stat()
        except OSError as exc:
            raise AudioLoadError(f"audio file not found: {clip.path}") from exc
        key: tuple = ("file", str(clip.path), st.st_size, st.st_mtime_ns)
    else:
        key = ("mem", clip.key)
    spec = _CACHE.get(key)
    if spec is None:
        wave = load_audio(clip.path) if clip.path is not None else clip.wave
        if wave is None:
            raise ValueError(f"clip {clip.key!r} has neither a path nor a waveform")
        with single_thread():
            spec = fbank(wave.float())
        if _CACHE_BYTES + spec.numel() * 4 <= _cache_limit():
            _CACHE[key] = spec
            _CACHE_BYTES += spec.numel() * 4
    return spec


# ---- datasets -----------------------------------------------------------------------------------
class AudioClipDataset(torch.utils.data.Dataset):
    """Clips as ``(x, y)``: ``x`` the normalised log-mel ``[1, 128, frames]`` (start-cropped or
    zero-padded, then ``(x - mean) / (2 std)``), ``y`` an int64 class id, or a float ``[C]``
    multi-hot vector for multi-label tasks."""

    def __init__(self, clips: Sequence[Clip], *, frames: int, stats: NormStats, num_classes: int,
                 multilabel: bool = False) -> None:
        self.clips = list(clips)
        self.frames = frames
        self.stats = stats
        self.num_classes = num_classes
        self.multilabel = multilabel

    def __len__(self) -> int:
        return len(self.clips)

    def spectrogram(self, i: int, *, normalized: bool = True) -> torch.Tensor:
        """``[1, 128, frames]`` log-mel of clip ``i``."""
        x = crop_or_pad(clip_fbank(self.clips[i]), self.frames).T.contiguous()[None]
        return normalize(x, self.stats) if normalized else x

    def target(self, i: int) -> torch.Tensor:
        label = self.clips[i].label
        if self.multilabel:
            y = torch.zeros(self.num_classes)
            y[list(label if isinstance(label, tuple) else (label,))] = 1.0
            return y
        return torch.tensor(int(label), dtype=torch.int64)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.spectrogram(i), self.target(i)

    def targets(self) -> torch.Tensor:
        """All targets: ``[N]`` int64, or ``[N, C]`` multi-hot."""
        if not self.clips:
            return torch.zeros(0, self.num_classes) if self.multilabel else torch.zeros(0, dtype=torch.int64)
        return torch.stack([self.target(i) for i in range(len(self))])

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stacked ``([B, 1, 128, frames], targets)`` for the given clip indices."""
        return (torch.stack([self.spectrogram(int(i)) for i in indices]),
                torch.stack([self.target(int(i)) for i in indices]))


_STATS_CACHE: dict[tuple, NormStats] = {}




def norm_stats(clips: Sequence[Clip], *, frames: int, cache_key: tuple | None = None) -> NormStats:
    """Mean/std of the ``frames``-long log-mels of ``clips`` (at most ``STATS_MAX_CLIPS``, a
    seeded subset), the values the model sees, padding included (as AST's ``get_norm_stats``)."""
    if cache_key is not None and cache_key in _STATS_CACHE:
        return _STATS_CACHE[cache_key]
    idx = list(range(len(clips)))
    if len(idx) > STATS_MAX_CLIPS:
        idx = sorted(random.Random(STATS_SEED).sample(idx, STATS_MAX_CLIPS))
    stats = compute_norm_stats(crop_or_pad(clip_fbank(clips[i]), frames) for i in idx)
    if cache_key is not None:
        _STATS_CACHE[cache_key] = stats
    return stats
