"""Procedural audio as a pre-training source (AudioPG-style; DESIGN.md section 4).

Sounds synthesised from acoustic primitives by the batched synthesiser
:mod:`workbench.audio.synth`, turned into Kaldi-style log-mels by
:func:`workbench.audio.frontend.logmel_batch` on the same device. Registered as
``kind="spectrogram"`` sources, so :func:`workbench.patterns.generate` min-max scales each clip to
[0, 1] like the image patterns:

* ``procedural_audio``: the full mix (harmonic, FM, pulse and noise voices);
* ``procedural_audio_harmonic`` / ``_fm`` / ``_pulse`` / ``_noise``: one primitive group each, with
  the same dynamics (envelopes, glides, vibrato, tremolo, transients) and post-processing, so a
  property study can ask which acoustic ingredient matters.

A clip for ``frames`` log-mel frames is ``400 + 160 (frames - 1)`` samples at 16 kHz (25 ms
window, 10 ms hop, Kaldi's snip-edges framing), so 1024 frames are 10.255 s.

>>> import workbench.patterns as P
>>> P.generate("procedural_audio", 2, frames=128).shape
torch.Size([2, 1, 128, 128])

To listen: ``synthesize(4, seconds=3.0, generator=torch.Generator().manual_seed(0))`` returns
waveforms ``[4, 48000]`` for ``IPython.display.Audio(w[0].numpy(), rate=16000)``.
"""

from __future__ import annotations

import torch

from workbench.audio.frontend import FRAME_LENGTH_MS, FRAME_SHIFT_MS, N_MELS, SAMPLE_RATE, logmel_batch
from workbench.audio.synth import MIXES, synthesize
from workbench.patterns.registry import PatternBatch, register_pattern

__all__ = ["MIXES", "SAMPLE_RATE", "samples_for_frames", "synthesize"]

_DESCRIPTIONS = {
    "full": "procedural audio, full mix: harmonic, FM, band-limited pulse and noise voices with "
            "envelopes, glides, vibrato/tremolo, transients, tilt/damping and background noise",
    "harmonic": "procedural audio, harmonic additive voices only (k^-gamma partials)",
    "fm": "procedural audio, FM voices only (AudioPG ratios, index 0.5-8)",
    "pulse": "procedural audio, band-limited saw/square/triangle voices only",
    "noise": "procedural audio, coloured and band-filtered noise voices only",
}


def samples_for_frames(frames: int) -> int:
    """Waveform length whose Kaldi framing gives exactly ``frames`` frames (inverse of
    :func:`workbench.audio.frontend.frames_for_seconds`)."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    win = int(SAMPLE_RATE * FRAME_LENGTH_MS / 1000)
    hop = int(SAMPLE_RATE * FRAME_SHIFT_MS / 1000)
    return win + hop * (frames - 1)


def _make(mix: str):
    def fn(n: int, *, frames: int, generator: torch.Generator, device: torch.device) -> PatternBatch:
        seconds = samples_for_frames(frames) / SAMPLE_RATE
        waves = synthesize(n, seconds=seconds, generator=generator, device=device, mix=mix)
        mel = logmel_batch(waves, n_mels=N_MELS)  # [n, 128, frames]
        return PatternBatch(mel[:, None], None)

    fn.__name__ = f"procedural_audio_{mix}"
    fn.__doc__ = f"``{mix}`` mix as log-mels ``[n, 1, 128, frames]`` (natural-log energies; see module docstring)."
    return fn


for _mix in MIXES:
    register_pattern(
        "procedural_audio" if _mix == "full" else f"procedural_audio_{_mix}",
        family="procedural_audio", description=_DESCRIPTIONS[_mix], kind="spectrogram", paper_id=None,
    )(_make(_mix))
