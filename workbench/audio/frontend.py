"""Waveform -> log-mel front-end (AST / SSAST / Audio-MAE convention).

16 kHz mono, Kaldi fbank with 128 mel bins, 25 ms Hanning window, 10 ms hop, no dither,
then crop or zero-pad to a target number of frames, then ``(x - mean) / (2 * std)`` with
per-dataset statistics (AST's convention: the result has mean 0 and std 0.5).

Model inputs are ``[N, 1, n_mels, frames]``: mel bins are rows, time runs along the columns,
the same geometry the synthetic patterns are rendered in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

SAMPLE_RATE = 16_000
N_MELS = 128
FRAME_SHIFT_MS = 10.0
FRAME_LENGTH_MS = 25.0


class AudioLoadError(RuntimeError):
    """An audio file could not be read; the message names the file."""


@dataclass(frozen=True)
class NormStats:
    """Dataset-level log-mel statistics used by :func:`normalize`."""

    mean: float
    std: float

    def to_dict(self) -> dict:
        return asdict(self)


# SSAST/AST's AudioSet statistics: the default for audio whose own stats were not computed.
AUDIOSET_STATS = NormStats(mean=-4.2677393, std=4.5689974)


def load_audio(path: str | Path, *, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Read an audio file as mono float32 ``[samples]`` at ``sample_rate`` (resampled if needed).

    Raises :class:`AudioLoadError` naming the file when it is missing, empty or unreadable.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioLoadError(f"audio file not found: {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types (LibsndfileError, RuntimeError, ...)
        raise AudioLoadError(f"cannot read audio file {path}: {exc}") from exc
    if data.shape[0] == 0:
        raise AudioLoadError(f"audio file {path} contains no samples")
    wave = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    if not torch.isfinite(wave).all():
        raise AudioLoadError(f"audio file {path} contains NaN or infinite samples")
    return resample(wave, sr, sample_rate)


def resample(wave: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Band-limited resampling along the last axis (no-op when the rates match)."""
    if orig_sr == new_sr:
        return wave
    import torchaudio.functional as AF

    return AF.resample(wave, orig_sr, new_sr)


def fbank(wave: torch.Tensor, *, sample_rate: int = SAMPLE_RATE, n_mels: int = N_MELS) -> torch.Tensor:
    """Kaldi log-mel filterbank of a mono ``[samples]`` waveform -> ``[frames, n_mels]``.

    Same settings as AST/SSAST's ``_wav2fbank``: DC removed, Hanning window, no energy term,
    no dither, 25 ms window, 10 ms shift.
    """
    import torchaudio.compliance.kaldi as kaldi

    if wave.ndim != 1:
        raise ValueError(f"expected a mono waveform [samples], got shape {tuple(wave.shape)}")
    min_len = int(sample_rate * FRAME_LENGTH_MS / 1000)
    if wave.numel() < min_len:
        wave = torch.nn.functional.pad(wave, (0, min_len - wave.numel()))
    wave = wave - wave.mean()
    return kaldi.fbank(wave[None].float(), htk_compat=True, sample_frequency=sample_rate,
                       use_energy=False, window_type="hanning", num_mel_bins=n_mels, dither=0.0,
                       frame_shift=FRAME_SHIFT_MS, frame_length=FRAME_LENGTH_MS)


def frames_for_seconds(seconds: float) -> int:
    """Number of 10 ms frames Kaldi produces for a clip of ``seconds`` (25 ms window, snip edges)."""
    samples = int(round(seconds * SAMPLE_RATE))
    win, hop = int(SAMPLE_RATE * FRAME_LENGTH_MS / 1000), int(SAMPLE_RATE * FRAME_SHIFT_MS / 1000)
    return max(1, 1 + (samples - win) // hop)


def crop_or_pad(spec: torch.Tensor, target_frames: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Crop or zero-pad ``[frames, n_mels]`` to ``[target_frames, n_mels]``.

    Cropping keeps the start (as AST), or a random window when a ``generator`` is given
    (training-time augmentation). Padding appends zeros at the end.
    """
    n = spec.shape[0]
    if n > target_frames:
        start = 0
        if generator is not None:
            start = int(torch.randint(0, n - target_frames + 1, (1,), generator=generator))
        return spec[start:start + target_frames]
    if n < target_frames:
        return torch.nn.functional.pad(spec, (0, 0, 0, target_frames - n))
    return spec


def wav2fbank(wave: torch.Tensor, *, target_frames: int, sample_rate: int = SAMPLE_RATE,
              n_mels: int = N_MELS, generator: torch.Generator | None = None) -> torch.Tensor:
    """The one feature-extraction function: waveform ``[samples]`` -> log-mel ``[1, n_mels, target_frames]``
    (un-normalised; see :func:`normalize`)."""
    spec = crop_or_pad(fbank(wave, sample_rate=sample_rate, n_mels=n_mels), target_frames, generator=generator)
    return spec.T.contiguous()[None]


def normalize(x: torch.Tensor, stats: NormStats) -> torch.Tensor:
    """AST normalisation ``(x - mean) / (2 * std)``."""
    return (x - stats.mean) / (2.0 * stats.std)


def compute_norm_stats(specs: Iterable[torch.Tensor]) -> NormStats:
    """Mean and std over all values of an iterable of log-mels (any shapes), in float64."""
    total, total_sq, count = 0.0, 0.0, 0
    for s in specs:
        s = s.double()
        total += float(s.sum())
        total_sq += float((s * s).sum())
        count += s.numel()
    if count == 0:
        raise ValueError("compute_norm_stats got no data")
    mean = total / count
    var = max(total_sq / count - mean * mean, 0.0)
    return NormStats(mean=mean, std=max(var ** 0.5, 1e-8))
