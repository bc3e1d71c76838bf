"""Audio: the waveform -> log-mel front-end (`frontend`), clips as model inputs (`clips`), the
downstream tasks (`tasks`, with the embedded `synth_sounds` and `spoken_digits`), training-time
augmentation (`augment`) and the procedural synthesiser (`synth`)."""

from workbench.audio.frontend import (
    AUDIOSET_STATS, N_MELS, SAMPLE_RATE, AudioLoadError, NormStats, compute_norm_stats, crop_or_pad,
    fbank, frames_for_seconds, load_audio, logmel_batch, normalize, resample, wav2fbank,
)

__all__ = [
    "AUDIOSET_STATS", "N_MELS", "SAMPLE_RATE", "AudioLoadError", "NormStats", "compute_norm_stats",
    "crop_or_pad", "fbank", "frames_for_seconds", "load_audio", "logmel_batch", "normalize", "resample", "wav2fbank",
]
