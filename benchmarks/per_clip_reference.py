"""One-clip-at-a-time procedural audio in numpy, the way AudioPG renders it: for comparison only.

A re-implementation of the public AudioPG generator's behaviour (Freyliu0516/audioPG,
``synthesizer/world_model.py`` ``generate_complete_sample`` + ``convert_to_melspec``; DESIGN.md
section 4), written for this benchmark. Per clip:

1. f0 ~ U[50, 2000] Hz and ONE voice over the whole clip, chosen uniformly from
   harmonic (3-15 partials, partial i+1 at strength (i+1)^-U[0.5, 1.5] x U[0.5, 1.2], random phase,
   frequency detuned by U[0.995, 1.005]), FM (index U[0.5, 8], ratio from {0.5, 1, 1.5, 2, 2.5,
   3.14}) or pulse (naive sawtooth or square, 50/50);
2. with probability 0.6 a uniform-noise burst of 10-100 ms at U[0.5, 2] amplitude somewhere;
3. 1-5 events, each U[0.5 s, clip / events] long with an envelope (linear attack over 1-30% of
   the event to 1, decay over 10-40% to 0.6, then a linear fade to 0), cut from a random place of
   the voice and added at a random place;
4. with probability 0.7 a biquad low-pass (``torchaudio.functional.lowpass_biquad``) at U[200, 6000]
   Hz, uniform background noise of amplitude U[0.001, 0.02], peak normalisation;
5. Kaldi fbank (128 mel, Hanning, no dither), zero-padded / cut to 1024 frames, normalised with
   ``(x + 4.26) / (2 x 4.56)``.

The randomness comes from one ``numpy.random.Generator`` (AudioPG mixes Python's ``random`` and
numpy's global state); the distributions are the same.
"""

from __future__ import annotations

import numpy as np
import torch

SAMPLE_RATE = 16_000
TARGET_FRAMES = 1024
FM_RATIOS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.14)


def _voice(rng: np.random.Generator, f0: float, t: np.ndarray) -> np.ndarray:
    mode = rng.integers(3)
    if mode == 0:  # harmonic additive, a handful of detuned partials
        wave = np.zeros_like(t)
        for i in range(int(rng.integers(3, 16))):
            strength = (1.0 / (i + 1) ** rng.uniform(0.5, 1.5)) * rng.uniform(0.5, 1.2)
            phase = rng.uniform(0.0, 2 * np.pi)
            freq = f0 * (i + 1) * rng.uniform(0.995, 1.005)
            wave += strength * np.sin(2 * np.pi * freq * t + phase)
        return wave
    if mode == 1:  # FM
        index = rng.uniform(0.5, 8.0)
        ratio = FM_RATIOS[int(rng.integers(len(FM_RATIOS)))]
        return np.sin(2 * np.pi * f0 * t + index * np.sin(2 * np.pi * f0 * ratio * t))
    if rng.random() > 0.5:  # naive (aliasing) sawtooth
        return 2.0 * (t * f0 - np.floor(t * f0 + 0.5))
    return np.sign(np.sin(2 * np.pi * f0 * t))  # naive square


def _place_events(rng: np.random.Generator, voice: np.ndarray, seconds: float) -> np.ndarray:
    n = voice.size
    out = np.zeros_like(voice)
    count = int(rng.integers(1, 6))
    for _ in range(count):
        # a + (b - a) U as Python's random.uniform, which AudioPG uses: also valid when b < a (short clips)
        length = min(int((0.5 + (seconds / count - 0.5) * rng.random()) * SAMPLE_RATE), n)
        attack = int(length * rng.uniform(0.01, 0.3))
        decay = int(length * rng.uniform(0.1, 0.4))
        env = np.ones(length)
        env[:attack] = np.linspace(0.0, 1.0, attack)
        env[attack:attack + decay] = np.linspace(1.0, 0.6, len(env[attack:attack + decay]))
        rest = len(env[attack + decay:])
        env[attack + decay:] = np.linspace(0.6, 0.0, rest)
        start = int(rng.integers(0, n - length + 1))
        place = int(rng.integers(0, n - length + 1))
        out[place:place + length] += voice[start:start + length] * env
    return out


def render_clip(rng: np.random.Generator, *, seconds: float = 10.24) -> np.ndarray:
    """One clip, float32 ``[round(seconds * 16000)]``, peak-normalised (steps 1-4 of the module docstring)."""
    import torchaudio.functional as AF

    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    wave = _voice(rng, rng.uniform(50.0, 2000.0), t)
    if rng.random() > 0.4:
        burst = int(rng.uniform(0.01, 0.1) * SAMPLE_RATE)
        if burst < n:
            at = int(rng.integers(0, n - burst + 1))
            wave[at:at + burst] += (rng.random(burst) * 2 - 1) * rng.uniform(0.5, 2.0)
    wave = _place_events(rng, wave, seconds)
    x = torch.from_numpy(wave).float()[None]
    if rng.random() > 0.3:
        x = AF.lowpass_biquad(x, SAMPLE_RATE, cutoff_freq=float(rng.uniform(200.0, 6000.0)))
    x = x + torch.from_numpy((rng.random(n) * 2 - 1) * rng.uniform(0.001, 0.02)).float()
    peak = x.abs().max()
    if peak > 0:
        x = x / peak
    return x[0].numpy()


def clip_to_fbank(wave: np.ndarray) -> torch.Tensor:
    """Kaldi fbank of one clip, padded / cut to 1024 frames and normalised: ``[1, 1024, 128]``."""
    import torchaudio.compliance.kaldi as kaldi

    fb = kaldi.fbank(torch.from_numpy(wave)[None], htk_compat=True, sample_frequency=SAMPLE_RATE,
                     use_energy=False, window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)
    if fb.shape[0] < TARGET_FRAMES:
        fb = torch.nn.functional.pad(fb, (0, 0, 0, TARGET_FRAMES - fb.shape[0]))
    fb = fb[:TARGET_FRAMES]
    return ((fb + 4.26) / (4.56 * 2))[None]


def generate(n: int, *, seed: int = 0, seconds: float = 10.24) -> torch.Tensor:
    """``n`` clips rendered and turned into log-mels one at a time: ``[n, 1, 1024, 128]``."""
    rng = np.random.default_rng(seed)
    return torch.stack([clip_to_fbank(render_clip(rng, seconds=seconds)) for _ in range(n)])
