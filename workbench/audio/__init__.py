"""Audio: the waveform -> log-mel front-end and (later) downstream audio datasets."""

from workbench.audio.frontend import (
    AUDIOSET_STATS, N_MELS, SAMPLE_RATE, AudioLoadError, NormStats, compute_norm_stats, crop_or_pad,
    fbank, frames_for_seconds, load_audio, logmel_batch, normalize, resample, wav2fbank,
)

__all__ = [
    "AUDIOSET_STATS", "N_MELS", "SAMPLE_RATE", "AudioLoadError", "NormStats", "compute_norm_stats",
    "crop_or_pad", "fbank", "frames_for_seconds", "load_audio", "logmel_batch", "normalize", "resample", "wav2fbank",
]
