"""``synth_sounds``: an embedded, labelled downstream task of procedurally synthesised sound events.

13 classes of one-event clips made with the same synthesiser as the ``procedural_audio``
pre-training sources (:mod:`workbench.audio.synth`: one synthesiser, two uses). Each clip draws
its own parameters (pitch, timbre, timing, loudness, background noise colour and SNR, spectral
tilt), so a class is a kind of sound, not a fixed waveform:

================  =====================================================================
pure_tone         one sinusoid, f0 150-3000 Hz
chirp_up          sinusoid gliding up 1-2.5 octaves over the event
chirp_down        sinusoid gliding down 1-2.5 octaves
harmonic_stack    8-30 harmonics with k^-gamma roll-off (gamma 0.5-1.5), f0 80-500 Hz
am_tone           sinusoid with deep tremolo (depth 0.8-1, 4-16 Hz)
fm_tone           FM voice (AudioPG ratios, index 2-8), f0 150-1500 Hz
white_noise       noise burst, spectral exponent 0-0.3
coloured_noise    pink-to-brown noise burst, exponent 1.2-2
band_noise        noise in a band 0.3-1 octave wide around 300-4000 Hz
click_train       short decaying noise clicks at 4-25 Hz
pluck             4-20 harmonics with an exponential decay (tau 50-300 ms)
square_wave       band-limited square, f0 80-800 Hz
sawtooth          band-limited sawtooth, f0 80-800 Hz
================  =====================================================================

Every clip: one event starting in the first quarter, lasting 45-75% of the clip, background noise
of random colour at 10-40 dB SNR, tilt U[-2, 2] dB/octave, peak U[0.3, 0.95].
Splits come from disjoint seed streams, so no train clip reappears in test.
"""

from __future__ import annotations

import math

import torch

from workbench.audio.frontend import SAMPLE_RATE
from workbench.audio.synth import FM_RATIOS, ClipParams, Events, render

CLASSES = (
    "pure_tone", "chirp_up", "chirp_down", "harmonic_stack", "am_tone", "fm_tone", "white_noise",
    "coloured_noise", "band_noise", "click_train", "pluck", "square_wave", "sawtooth",
)
SPLITS = ("train", "test")


def _u(g: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _log_u(g: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return torch.exp(_u(g, n, math.log(lo), math.log(hi)))


def _class_events(name: str, clips: torch.Tensor, g: torch.Generator, seconds: float,
                  exponent: torch.Tensor) -> Events:
    """Events for the clips ``clips`` (global clip indices) of class ``name``; may set the clips'
    noise ``exponent`` (a ``[n_total]`` tensor, edited in place) where the class defines it."""
    n = clips.numel()
    onset = _u(g, n, 0.0, 0.25) * seconds
    duration = torch.minimum(_u(g, n, 0.45, 0.75) * seconds, seconds - onset)
    common = dict(clip=clips, onset=onset, duration=duration, attack=_u(g, n, 0.005, 0.04),
                  release=_u(g, n, 0.02, 0.1), phase=torch.rand(n, generator=g),
                  seed=torch.randint(0, 2**62, (n,), generator=g))
    if name == "pure_tone":
        return Events.build(kind="harmonic", f0=_log_u(g, n, 150, 3000), partials=1, **common)
    if name in ("chirp_up", "chirp_down"):
        up = name == "chirp_up"
        f0 = _log_u(g, n, 150, 750) if up else _log_u(g, n, 800, 4000)
        octaves = _u(g, n, 1.0, 2.5) * (1 if up else -1)
        return Events.build(kind="harmonic", f0=f0, partials=1, glide=octaves, glide_time=duration, **common)
    if name == "harmonic_stack":
        return Events.build(kind="harmonic", f0=_log_u(g, n, 80, 500), gamma=_u(g, n, 0.5, 1.5),
                            partials=torch.randint(8, 31, (n,), generator=g), **common)
    if name == "am_tone":
        return Events.build(kind="harmonic", f0=_log_u(g, n, 150, 3000), partials=1,
                            tremolo_depth=_u(g, n, 0.8, 1.0), tremolo_rate=_u(g, n, 4.0, 16.0), **common)
    if name == "fm_tone":
        ratio = torch.tensor(FM_RATIOS)[torch.randint(0, len(FM_RATIOS), (n,), generator=g)]
        return Events.build(kind="fm", f0=_log_u(g, n, 150, 1500), fm_ratio=ratio,
                            fm_index=_u(g, n, 2.0, 8.0), **common)
    if name in ("white_noise", "coloured_noise"):
        exponent[clips] = _u(g, n, 0.0, 0.3) if name == "white_noise" else _u(g, n, 1.2, 2.0)
        return Events.build(kind="noise", noise_start=torch.rand(n, generator=g), **common)
    if name == "band_noise":
        return Events.build(kind="band", noise_start=torch.rand(n, generator=g), **common)
    if name == "pluck":
        common.update(attack=_u(g, n, 0.001, 0.003))
        return Events.build(kind="harmonic", f0=_log_u(g, n, 100, 1000), gamma=_u(g, n, 1.0, 2.0),
                            partials=torch.randint(4, 21, (n,), generator=g),
                            damping=1.0 / _log_u(g, n, 0.05, 0.3), **common)
    if name in ("square_wave", "sawtooth"):
        return Events.build(kind="square" if name == "square_wave" else "saw", f0=_log_u(g, n, 80, 800), **common)
    if name == "click_train":
        exponent[clips] = _u(g, n, 0.0, 1.0)
        rate = _u(g, n, 4.0, 25.0)
        tau = _u(g, n, 0.0005, 0.002)
        counts = (duration * rate).floor().long().clamp_min(1)
        owner = torch.repeat_interleave(torch.arange(n), counts)
        k = torch.arange(int(counts.sum())) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
        m = owner.numel()
        click_onset = onset[owner] + k / rate[owner]
        return Events.build(
            kind="noise", clip=clips[owner], onset=click_onset,
            duration=torch.minimum(8 * tau[owner], seconds - click_onset).clamp_min(1.0 / SAMPLE_RATE),
            attack=0.0001, release=0.0005, damping=1.0 / tau[owner],
            noise_start=torch.rand(m, generator=g), gain=_u(g, m, 0.7, 1.0),
        )
    raise ValueError(f"unknown synth_sounds class {name!r}; valid: {', '.join(CLASSES)}")


def _split_seed(split: str, seed: int) -> int:
    # 2 * seed + split index: distinct generator seeds for every (seed, split) pair
    return 2 * seed + SPLITS.index(split)


def make_synth_sounds(split: str, *, n_per_class: int = 40, seed: int = 0,
                      seconds: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The ``split`` ("train" or "test") of the task: ``(waves, labels, class_names)``.

    ``waves``: float32 ``[n, round(seconds * 16000)]`` at 16 kHz on the CPU, peak-normalised;
    ``labels``: int64 ``[n]`` with ``n = n_per_class * len(CLASSES)``, clip ``i`` of class
    ``i % len(CLASSES)`` (balanced and interleaved); ``class_names``: ``list(CLASSES)``.
    Deterministic in (``split``, ``n_per_class``, ``seed``, ``seconds``); train and test come
    from disjoint random streams.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    if not seconds >= 0.2:
        raise ValueError(f"seconds must be >= 0.2 (one event plus its envelope), got {seconds}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    g = torch.Generator().manual_seed(_split_seed(split, seed))
    n_classes = len(CLASSES)
    n = n_per_class * n_classes
    labels = torch.arange(n_classes).repeat(n_per_class)
    exponent = _u(g, n, 0.0, 2.0)  # background colour; noise classes overwrite their own
    parts = [_class_events(name, (labels == c).nonzero().flatten(), g, seconds, exponent)
             for c, name in enumerate(CLASSES)]
    clips = ClipParams.build(
        n, noise_exponent=exponent, band_centre=_log_u(g, n, 300.0, 4000.0), band_octaves=_u(g, n, 0.3, 1.0),
        tilt=_u(g, n, -2.0, 2.0), snr_db=_u(g, n, 10.0, 40.0), peak=_u(g, n, 0.3, 0.95),
        seed=torch.randint(0, 2**62, (n,), generator=g),
    )
    samples = int(round(seconds * SAMPLE_RATE))
    waves = render(Events.cat(parts), clips, samples=samples, device="cpu")
    return waves, labels, list(CLASSES)
