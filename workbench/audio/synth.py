"""Batched procedural audio synthesiser: acoustic primitives, event scheduling, post-processing.

One synthesiser with two uses: the ``procedural_audio*`` pre-training sources
(:mod:`workbench.patterns.procedural_audio`) draw random scenes with :func:`random_scene`, and the
embedded downstream task (:mod:`workbench.audio.synth_sounds`) builds labelled scenes from the same
:class:`Events`. Both render with :func:`render`. The design follows AudioPG (Liu et al., 2026;
DESIGN.md section 4), batched in torch instead of one clip at a time in numpy.

Conventions
-----------
* 16 kHz mono waveforms ``[B, samples]`` float32 on the device given, peak-normalised.
* A scene is an :class:`Events` table (one row per sound event: which clip, voice kind, onset,
  duration, pitch, envelope, modulation; times in seconds, frequencies in Hz) plus a
  :class:`ClipParams` table (one row per clip: noise colour, filtered band, spectral tilt, damping,
  background SNR, peak).
* All randomness is in the scene: :func:`random_scene` draws it from the CPU ``torch.Generator``
  passed in, including an int64 ``seed`` per clip and per event; :func:`render` draws the bulk
  random numbers (a clip's noise spectrum, a harmonic voice's partial phases) from CPU generators
  seeded with those and moves them with ``.to(device)``. So rendering is a pure function of the
  scene: a clip sounds the same in any batch, chunking or device (up to float rounding).

Primitives (``KINDS``)
----------------------
* ``harmonic``: additive partials ``k^-gamma`` with random phases, at most ``partials`` of them.
* ``saw``, ``square``, ``triangle``: band-limited by additive synthesis (Fourier series).
* All four are wavetable oscillators: each event's partials are summed once into a 4096-sample
  single-period table (one inverse FFT), then read with linear interpolation at the event's
  running phase. Partials at or above 0.95 x Nyquist at the event's highest pitch (glide and
  vibrato included) are dropped, so nothing aliases. Exactly harmonic partials are the price: the
  reference's +-0.5% partial detuning is not modelled.
* ``fm``: ``sin(2 pi phi_c + I(t) sin(2 pi r phi_c))``, ratio ``r`` (AudioPG's set ``FM_RATIOS``),
  index ``I(t) = I exp(-fm_index_decay t)`` (a decaying index gives bell-like brightness decay).
  As in AudioPG, sidebands above Nyquist are not suppressed (they fold back).
* ``noise``: coloured noise, power ``~ 1/f^beta`` with ``beta = ClipParams.noise_exponent``
  (0 white, 1 pink, 2 brown), 0 below 20 Hz. ``band``: noise with a Gaussian band in log-frequency
  (``band_centre`` Hz, ``band_octaves`` wide at half power). Both are shaped in the frequency
  domain from one complex Gaussian spectrum per clip (full clip length, unit RMS); noise events
  read their clip's buffer from their own start (``noise_start``, a fraction of the buffer), so
  events of one clip, and the background read at offset 0, hear different stretches of noise.

Dynamics (per event)
--------------------
ADSR envelope (linear attack to 1, linear decay to ``sustain``, linear release to 0 over the last
``release`` seconds), times an exponential decay ``exp(-damping t)`` (plucks, transients);
a pitch glide of ``glide`` octaves (exponential, reached after ``glide_time`` s); vibrato
(``vibrato_depth`` relative frequency deviation at ``vibrato_rate`` Hz); tremolo (gain dipping by
``tremolo_depth`` at ``tremolo_rate`` Hz). Envelope, pitch and tremolo are smooth, so they are
evaluated every ``CONTROL`` samples (1 ms) and linearly interpolated; only oscillator phase and
waveform are computed per sample. Transients are short ``noise`` events with a sharp attack and a
fast exponential decay.

Post-processing (per clip, in the frequency domain on the whole mix)
--------------------------------------------------------------------
Spectral tilt (``tilt`` dB per octave around 1 kHz), damping (a zero-phase 2nd-order Butterworth
low-pass magnitude at ``damping_hz``; AudioPG uses a causal biquad), background noise of the clip's
colour at ``snr_db``, then peak normalisation to ``peak``. One real FFT of the mix and one inverse.

Layout (why it is fast)
-----------------------
Events are cut into blocks of ``BLOCK`` samples aligned to the clip's BLOCK grid; all blocks of
all events of a chunk of clips are one ``[n_blocks, BLOCK]`` tensor, so work scales with the
events' total duration (not clips x events x clip length), per-block parameters broadcast without
per-sample gathers, and each block adds to one row of the output (a row-wise ``index_add_``). The
output grid is the zero-padded FFT buffer (a length with small prime factors). Per-clip spectral
curves (noise colour, band, tilt, damping) are evaluated every ``SPECTRAL_STEP`` bins and
interpolated. Each FFT runs once over a chunk of clips (a long FFT's setup costs about as much
as transforming one clip); element-wise spectral work goes ``POST_CLIPS`` clips at a time on the
CPU and event blocks ``CPU_BLOCK_CHUNK`` at a time, so their temporaries stay in cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F

from workbench.audio.frontend import SAMPLE_RATE

NYQUIST = SAMPLE_RATE / 2
KINDS = ("harmonic", "saw", "square", "triangle", "fm", "noise", "band")
_KIND = {k: i for i, k in enumerate(KINDS)}
_FM, _NOISE, _BAND = 4, 5, 6
FM_RATIOS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.14)  # AudioPG's modulator/carrier ratios
F0_RANGE = (50.0, 2000.0)  # AudioPG: f0 ~ U[50, 2000] Hz
GAMMA_RANGE = (0.5, 2.0)  # AudioPG: partial roll-off k^-gamma
FM_INDEX_RANGE = (0.5, 8.0)  # AudioPG: modulation index
MIXES: dict[str, tuple[str, ...]] = {
    "full": KINDS,
    "harmonic": ("harmonic",),
    "fm": ("fm",),
    "pulse": ("saw", "square", "triangle"),
    "noise": ("noise", "band"),
}
BLOCK = 1024  # samples per event block (64 ms)
CONTROL = 16  # samples between control points of envelope / pitch / tremolo (1 ms)
TABLE_SIZE = 4096  # wavetable length: linear-interpolation images of partial k are ~(k / 4096)^2 down
BAND_LIMIT = 0.95  # keep partials below this fraction of Nyquist
NOISE_LOW_HZ = 20.0  # coloured noise has no energy below this (brown noise would be DC-heavy)
CPU_CHUNK_SAMPLES = 1 << 23  # samples rendered together on the CPU (48 clips of 10 s): bounds memory
ACCEL_CHUNK_SAMPLES = 1 << 25  # samples rendered together on an accelerator (200 clips of 10 s)
POST_CLIPS = 4  # clips per element-wise spectral step on the CPU (their spectra stay in cache)
SPECTRAL_STEP = 64  # bins between the points of per-clip spectral envelopes (6 Hz at 10 s)
CPU_BLOCK_CHUNK = 128  # blocks per step on the CPU: keeps each [chunk, BLOCK] temporary ~0.5 MB


@dataclass
class Events:
    """One row per sound event; every field is a 1-D tensor of the same length ``N``.

    Times are seconds, frequencies Hz. ``clip`` (int64) says which clip of the batch the event
    sounds in; ``kind`` (int64) indexes ``KINDS``. Fields a kind does not use are ignored
    (``f0`` for noise, ``noise_start`` for oscillators, ``gamma``/``partials`` except for harmonic).
    Build with :meth:`build`, which fills defaults and broadcasts scalars.
    """

    clip: torch.Tensor
    kind: torch.Tensor
    onset: torch.Tensor
    duration: torch.Tensor
    gain: torch.Tensor  # linear amplitude
    f0: torch.Tensor
    glide: torch.Tensor  # octaves reached after glide_time (exponential pitch path)
    glide_time: torch.Tensor
    vibrato_rate: torch.Tensor
    vibrato_depth: torch.Tensor  # relative frequency deviation, e.g. 0.01 = +-1%
    tremolo_rate: torch.Tensor
    tremolo_depth: torch.Tensor  # 0 none .. 1 gain dips to 0
    attack: torch.Tensor
    decay: torch.Tensor
    sustain: torch.Tensor  # level reached after attack + decay (0..1)
    release: torch.Tensor
    damping: torch.Tensor  # exponential decay rate of the envelope, 1/s (0 = none)
    phase: torch.Tensor  # oscillator phase offset, cycles
    gamma: torch.Tensor  # harmonic roll-off exponent: partial k has amplitude k^-gamma
    partials: torch.Tensor  # int64, most partials of a harmonic voice (Nyquist may allow fewer)
    fm_ratio: torch.Tensor
    fm_index: torch.Tensor
    fm_index_decay: torch.Tensor  # 1/s
    noise_start: torch.Tensor  # where a noise event starts reading its clip's buffer, in [0, 1)
    seed: torch.Tensor  # int64, seeds the event's own randomness (random partial phases)

    _DEFAULTS = dict(
        gain=1.0, f0=440.0, glide=0.0, glide_time=1.0, vibrato_rate=5.0, vibrato_depth=0.0,
        tremolo_rate=4.0, tremolo_depth=0.0, attack=0.005, decay=0.0, sustain=1.0, release=0.005,
        damping=0.0, phase=0.0, gamma=1.0, partials=TABLE_SIZE // 2 - 1, fm_ratio=1.0, fm_index=0.0,
        fm_index_decay=0.0, noise_start=0.0, seed=0,
    )
    _INT_FIELDS = ("clip", "kind", "partials", "seed")

    @classmethod
    def build(cls, *, clip, kind, onset, duration, **values) -> "Events":
        """Events from tensors / sequences / scalars (broadcast to the longest); missing optional
        fields take defaults. ``kind`` may be names from ``KINDS`` or their indices."""
        unknown = set(values) - set(cls._DEFAULTS)
        if unknown:
            raise TypeError(f"unknown Events fields {sorted(unknown)}; valid: {sorted(cls._DEFAULTS)}")
        if isinstance(kind, str) or (isinstance(kind, (list, tuple)) and kind and isinstance(kind[0], str)):
            names = [kind] if isinstance(kind, str) else list(kind)
            bad = [k for k in names if k not in _KIND]
            if bad:
                raise ValueError(f"unknown event kind(s) {bad}; valid kinds: {', '.join(KINDS)}")
            kind = [_KIND[k] for k in names]
        raw = dict(cls._DEFAULTS, **values, clip=clip, kind=kind, onset=onset, duration=duration)
        tensors = {}
        for name, v in raw.items():
            dtype = torch.int64 if name in cls._INT_FIELDS else torch.float32
            tensors[name] = torch.as_tensor(v, dtype=dtype).reshape(-1)
        n = max(t.numel() for t in tensors.values())
        out = {}
        for name, t in tensors.items():
            if t.numel() not in (1, n):
                raise ValueError(f"Events field {name!r} has {t.numel()} values, expected 1 or {n}")
            out[name] = t.expand(n).clone() if t.numel() == 1 else t
        ev = cls(**out)
        ev.validate()
        return ev

    def validate(self) -> None:
        n = len(self)
        for f in fields(self):
            t = getattr(self, f.name)
            if t.ndim != 1 or t.numel() != n:
                raise ValueError(f"Events field {f.name!r} has shape {tuple(t.shape)}, expected [{n}]")
        if n and (int(self.kind.min()) < 0 or int(self.kind.max()) >= len(KINDS)):
            raise ValueError(f"event kind indices must be in 0..{len(KINDS) - 1} ({', '.join(KINDS)})")
        if n and float(self.duration.min()) <= 0:
            raise ValueError("event durations must be > 0 seconds")
        if n and float(self.onset.min()) < 0:
            raise ValueError("event onsets must be >= 0 seconds")
        if n and not (float(self.f0.min()) > 0 and 0 <= float(self.vibrato_depth.min())
                      and float(self.vibrato_depth.max()) < 1):
            raise ValueError("event f0 must be > 0 Hz and vibrato_depth in [0, 1) (frequencies stay positive)")

    def __len__(self) -> int:
        return self.clip.numel()

    @staticmethod
    def cat(parts: list["Events"]) -> "Events":
        return Events(**{f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(Events)})

    def select(self, index: torch.Tensor) -> "Events":
        return Events(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def to(self, device: torch.device) -> "Events":
        return Events(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


@dataclass
class ClipParams:
    """Per-clip noise colour and post-processing; every field a 1-D tensor ``[B]``.

    ``noise_exponent``: beta of the clip's ``noise`` buffer and background noise (0 white .. 2 brown).
    ``band_centre`` (Hz), ``band_octaves``: the clip's ``band`` buffer. ``tilt``: dB per octave
    (0 = flat). ``damping_hz``: low-pass cutoff (``inf`` = none). ``snr_db``: background noise
    level against the mix (``inf`` = none). ``peak``: target peak amplitude. ``seed`` (int64):
    seeds the clip's noise, so a clip renders the same in any batch, chunking or device.
    """

    noise_exponent: torch.Tensor
    band_centre: torch.Tensor
    band_octaves: torch.Tensor
    tilt: torch.Tensor
    damping_hz: torch.Tensor
    snr_db: torch.Tensor
    peak: torch.Tensor
    seed: torch.Tensor

    _DEFAULTS = dict(noise_exponent=0.0, band_centre=1000.0, band_octaves=1.0, tilt=0.0,
                     damping_hz=math.inf, snr_db=math.inf, peak=0.95, seed=0)

    @classmethod
    def build(cls, n: int, **values) -> "ClipParams":
        unknown = set(values) - set(cls._DEFAULTS)
        if unknown:
            raise TypeError(f"unknown ClipParams fields {sorted(unknown)}; valid: {sorted(cls._DEFAULTS)}")
        out = {}
        for name, default in cls._DEFAULTS.items():
            dtype = torch.int64 if name == "seed" else torch.float32
            t = torch.as_tensor(values.get(name, default), dtype=dtype).reshape(-1)
            if t.numel() not in (1, n):
                raise ValueError(f"ClipParams field {name!r} has {t.numel()} values, expected 1 or {n}")
            out[name] = t.expand(n).clone() if t.numel() == 1 else t
        clips = cls(**out)
        clips.validate()
        return clips

    def validate(self) -> None:
        n = len(self)
        for f in fields(self):
            t = getattr(self, f.name)
            if t.ndim != 1 or t.numel() != n:
                raise ValueError(f"ClipParams field {f.name!r} has shape {tuple(t.shape)}, expected [{n}]")
        for name in ("band_centre", "band_octaves", "damping_hz", "peak"):
            if n and not float(getattr(self, name).min()) > 0:
                raise ValueError(f"ClipParams.{name} must be > 0")

    def __len__(self) -> int:
        return self.peak.numel()

    def select(self, index: torch.Tensor | slice) -> "ClipParams":
        return ClipParams(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def to(self, device: torch.device) -> "ClipParams":
        return ClipParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


# ----------------------------------------------------------------------------------------------
# Random scenes: the pre-training distribution


def _u(g: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _log_u(g: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return torch.exp(_u(g, n, math.log(lo), math.log(hi)))


def _coin(g: torch.Generator, n: int, p: float) -> torch.Tensor:
    return torch.rand(n, generator=g) < p


def _seeds(g: torch.Generator, n: int) -> torch.Tensor:
    return torch.randint(0, 2**62, (n,), generator=g)


def random_scene(n: int, *, seconds: float, generator: torch.Generator, mix: str = "full",
                 max_events: int = 5) -> tuple[Events, ClipParams]:
    """Draw ``n`` random clips' events and clip parameters (the ``procedural_audio`` distribution).

    Per clip: 1..``max_events`` voiced events whose kinds come from ``MIXES[mix]`` (uniform over
    primitive groups harmonic / fm / pulse / noise, then over kinds in the group), uniform onsets,
    durations U[0.1 s, 2 x clip / events] cut at the clip end (AudioPG: U[0.5 s, clip / events]),
    f0 ~ U[50, 2000] Hz, ADSR with times as fractions of the event (AudioPG's attack 1-30%,
    decay 10-40%), 30% percussive (exponential decay, tau 0.05-1 s), 30% glides of up to +-2
    octaves (kept within 30 Hz..6 kHz), 30% vibrato, 20% tremolo; plus 0-3 transients per clip
    (none in 40% of clips, as AudioPG's 60% burst probability): 10-100 ms noise bursts with a
    fast decay. Clip: noise colour beta ~ U[0, 2], band centre 200 Hz..6 kHz log-uniform,
    width 0.3-2 octaves, tilt U[-3, 3] dB/oct half the time, damping low-pass in 60% of clips
    (cutoff 300 Hz..7.5 kHz log-uniform; AudioPG: 70%, U[200, 6000] Hz), background noise at
    SNR U[5, 50] dB, peak 0.95. Transients, envelopes and post-processing are the same in every
    mix; only the voiced kinds change.
    """
    if mix not in MIXES:
        raise ValueError(f"unknown mix {mix!r}; valid mixes: {', '.join(MIXES)}")
    if n < 1 or seconds <= 0 or max_events < 1:
        raise ValueError(f"need n >= 1, seconds > 0, max_events >= 1; got n={n}, seconds={seconds}, "
                         f"max_events={max_events}")
    g = generator
    groups = [[k for k in grp if k in MIXES[mix]] for grp in
              (("harmonic",), ("fm",), ("saw", "square", "triangle"), ("noise", "band"))]
    groups = [grp for grp in groups if grp]

    counts = torch.randint(1, max_events + 1, (n,), generator=g)
    m = int(counts.sum())
    clip = torch.repeat_interleave(torch.arange(n), counts)
    per_clip = counts[clip].float()
    group = torch.randint(0, len(groups), (m,), generator=g)
    within = torch.rand(m, generator=g)
    kind = torch.empty(m, dtype=torch.int64)
    for gi, grp in enumerate(groups):
        pick = (within * len(grp)).long().clamp_max(len(grp) - 1)
        ids = torch.tensor([_KIND[k] for k in grp])[pick]
        kind = torch.where(group == gi, ids, kind)

    max_dur = (2.0 * seconds / per_clip).clamp_max(seconds)
    duration = 0.1 + (max_dur - 0.1).clamp_min(0.0) * torch.rand(m, generator=g)
    duration = duration.clamp_max(seconds)
    onset = 0.95 * seconds * torch.rand(m, generator=g)
    duration = torch.minimum(duration, seconds - onset)
    f0 = _u(g, m, *F0_RANGE)
    gain = 10 ** (_u(g, m, -12.0, 0.0) / 20)
    attack = duration * _u(g, m, 0.01, 0.3)
    decay = duration * _u(g, m, 0.1, 0.4)
    sustain = _u(g, m, 0.3, 1.0)
    release = duration * _u(g, m, 0.05, 0.5)
    damping = torch.where(_coin(g, m, 0.3), 1.0 / _log_u(g, m, 0.05, 1.0), torch.zeros(m))
    glide_on = _coin(g, m, 0.3)
    glide = torch.where(glide_on, _u(g, m, -2.0, 2.0), torch.zeros(m))
    glide = torch.minimum(torch.maximum(glide, torch.log2(30.0 / f0)), torch.log2(6000.0 / f0))
    glide_time = duration * _u(g, m, 0.2, 1.0)
    vib_on = _coin(g, m, 0.3)
    vibrato_rate = _u(g, m, 3.0, 8.0)
    vibrato_depth = torch.where(vib_on, _u(g, m, 0.002, 0.03), torch.zeros(m))
    trem_on = _coin(g, m, 0.2)
    tremolo_rate = _u(g, m, 2.0, 20.0)
    tremolo_depth = torch.where(trem_on, _u(g, m, 0.2, 1.0), torch.zeros(m))
    phase = torch.rand(m, generator=g)
    gamma = _u(g, m, *GAMMA_RANGE)
    partials = torch.randint(3, 41, (m,), generator=g)
    fm_ratio = torch.tensor(FM_RATIOS)[torch.randint(0, len(FM_RATIOS), (m,), generator=g)]
    fm_index = _u(g, m, *FM_INDEX_RANGE)
    fm_index_decay = torch.where(_coin(g, m, 0.5), 1.0 / _log_u(g, m, 0.1, 2.0), torch.zeros(m))
    noise_start = torch.rand(m, generator=g)
    seed = _seeds(g, m)
    voiced = Events.build(
        clip=clip, kind=kind, onset=onset, duration=duration, gain=gain, f0=f0, glide=glide,
        glide_time=glide_time, vibrato_rate=vibrato_rate, vibrato_depth=vibrato_depth,
        tremolo_rate=tremolo_rate, tremolo_depth=tremolo_depth, attack=attack, decay=decay,
        sustain=sustain, release=release, damping=damping, phase=phase, gamma=gamma,
        partials=partials, fm_ratio=fm_ratio, fm_index=fm_index, fm_index_decay=fm_index_decay,
        noise_start=noise_start, seed=seed,
    )

    n_trans = torch.where(_coin(g, n, 0.6), torch.randint(1, 4, (n,), generator=g),
                          torch.zeros(n, dtype=torch.int64))
    t = int(n_trans.sum())
    parts = [voiced]
    if t:
        t_dur = _u(g, t, 0.01, 0.1)
        t_onset = 0.95 * seconds * torch.rand(t, generator=g)
        parts.append(Events.build(
            clip=torch.repeat_interleave(torch.arange(n), n_trans), kind=_NOISE, onset=t_onset,
            duration=torch.minimum(t_dur, seconds - t_onset), gain=10 ** (_u(g, t, -6.0, 6.0) / 20),
            attack=0.0005, decay=0.0, sustain=1.0, release=0.002, damping=_u(g, t, 2.0, 6.0) / t_dur,
            noise_start=torch.rand(t, generator=g),
        ))
    events = Events.cat(parts)

    clips = ClipParams.build(
        n,
        noise_exponent=_u(g, n, 0.0, 2.0),
        band_centre=_log_u(g, n, 200.0, 6000.0),
        band_octaves=_u(g, n, 0.3, 2.0),
        tilt=torch.where(_coin(g, n, 0.5), _u(g, n, -3.0, 3.0), torch.zeros(n)),
        damping_hz=torch.where(_coin(g, n, 0.6), _log_u(g, n, 300.0, 7500.0), torch.full((n,), math.inf)),
        snr_db=_u(g, n, 5.0, 50.0),
        peak=0.95,
        seed=_seeds(g, n),
    )
    return events, clips


# ----------------------------------------------------------------------------------------------
# Rendering


def fast_fft_length(n: int) -> int:
    """Smallest ``2^a 3^b 5^c >= n``: FFT lengths with only small factors run several times faster
    (10.255 s = 164,080 samples = 16 x 5 x 7 x 293 is ~4.5x slower than 163,840 = 2^15 x 5)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _coarse_freqs(n_fft: int, device: torch.device) -> torch.Tensor:
    """Frequencies (Hz) of the points of a per-clip spectral envelope: every ``SPECTRAL_STEP``-th
    bin of an ``n_fft`` spectrum, enough points to cover all ``n_fft // 2 + 1`` bins."""
    points = -(-(n_fft // 2 + 1) // SPECTRAL_STEP) + 1
    return torch.arange(points, device=device, dtype=torch.float32) * (SPECTRAL_STEP * SAMPLE_RATE / n_fft)


def _expand(envelope: torch.Tensor, bins: int) -> torch.Tensor:
    """Coarse envelopes ``[B, points]`` -> per-bin values as interleaved (re, im) pairs
    ``[B, 2 * bins]``, linearly interpolated. Spectra are kept as real interleaved ``[B, 2 * bins]``
    views so gains are plain contiguous real products (complex-by-real products promote and are
    several times slower), and envelopes are smooth, so transcendental functions run on the
    coarse points only."""
    ramp = (torch.arange(SPECTRAL_STEP, device=envelope.device, dtype=torch.float32) / SPECTRAL_STEP)
    left = envelope[:, :-1, None]
    full = left + (envelope[:, 1:, None] - left) * ramp.repeat_interleave(2)
    return full.reshape(envelope.shape[0], full.shape[1] * full.shape[2])[:, : 2 * bins]


def _noise_magnitudes(clips: ClipParams, n_fft: int, device: torch.device, *, band: bool) -> torch.Tensor:
    """Interleaved spectral magnitudes ``[B, 2 * bins]`` (see :func:`_expand`) of the clips' noise
    (``band=False``: power ~ 1/f^beta, else the band), 0 below ``NOISE_LOW_HZ`` and at Nyquist,
    scaled so that standard normal re/im parts give unit RMS in time (Parseval: mean square =
    sum over the interleaved floats of 2 mag^2 / N^2, with E re^2 = E im^2 = 1)."""
    f = _coarse_freqs(n_fft, device)[None, :]
    if band:
        sigma = clips.band_octaves[:, None] / (2 * math.sqrt(2 * math.log(2)))  # FWHM -> sigma
        octs = torch.log2(f.clamp_min(1.0) / clips.band_centre[:, None])
        envelope = torch.exp(-0.5 * (octs / sigma).square())
    else:
        envelope = torch.exp(torch.log(f.clamp_min(NOISE_LOW_HZ)) * (-0.5 * clips.noise_exponent[:, None]))
    mag = _expand(envelope, n_fft // 2 + 1)
    low = math.ceil(NOISE_LOW_HZ * n_fft / SAMPLE_RATE)  # first bin at or above NOISE_LOW_HZ
    mag[:, : 2 * low] = 0.0
    mag[:, -2:] = 0.0
    norm = torch.linalg.vector_norm(mag, dim=1, keepdim=True)
    return mag * (n_fft / (math.sqrt(2.0) * norm).clamp_min(1e-20))


def _post_gain(clips: ClipParams, n_fft: int, device: torch.device) -> torch.Tensor:
    """Interleaved ``[B, 2 * bins]`` zero-phase gain: tilt (``tilt`` dB/octave around 1 kHz, flat
    below 50 Hz) times a 2nd-order Butterworth low-pass magnitude at ``damping_hz``."""
    f = _coarse_freqs(n_fft, device)[None, :]
    tilt = torch.exp(torch.log(f.clamp_min(50.0) / 1000.0) * (clips.tilt[:, None] / (20 * math.log10(2))))
    envelope = tilt * torch.rsqrt(1.0 + (f / clips.damping_hz[:, None]).square().square())
    return _expand(envelope, n_fft // 2 + 1)


def _tables(ev: Events, device: torch.device) -> torch.Tensor:
    """Single-period wavetables ``[N, TABLE_SIZE + 1]`` (last sample repeats the first) for table
    kinds, each normalised to peak 1. A ``harmonic`` event's random partial phases are drawn from
    a CPU generator seeded with its ``seed``."""
    n = len(ev)
    half = TABLE_SIZE // 2
    k = torch.arange(1, half, device=device, dtype=torch.float32)[None, :]  # partial numbers
    kind = ev.kind[:, None]
    f_top = ev.f0 * torch.exp2(ev.glide.clamp_min(0.0)) * (1.0 + ev.vibrato_depth)
    audible = k * f_top[:, None] < BAND_LIMIT * NYQUIST
    odd = (k.long() % 2) == 1
    amp = torch.zeros(n, half - 1, device=device)
    amp = torch.where(kind == 0, k ** (-ev.gamma[:, None]) * (k <= ev.partials[:, None]), amp)
    amp = torch.where(kind == 1, 1.0 / k, amp)
    amp = torch.where(kind == 2, odd / k, amp)
    amp = torch.where(kind == 3, odd / k.square(), amp)
    amp = amp * audible
    # Fourier-series signs put the classic shapes in phase: saw sum (-1)^(k+1) sin(k x) / k,
    # triangle sum over odd k of (-1)^((k-1)/2) sin(k x) / k^2.
    sign = torch.ones_like(amp)
    sign = torch.where((kind == 1) & ~odd, -sign, sign)
    sign = torch.where((kind == 3) & ((k.long() % 4) == 3), -sign, sign)
    phase = torch.zeros_like(amp)
    harmonic = (ev.kind == 0).nonzero().flatten()
    if harmonic.numel():
        width = int(ev.partials[harmonic].clamp_max(half - 1).max())
        drawn = torch.stack([torch.rand(width, generator=torch.Generator().manual_seed(sd))
                             for sd in ev.seed[harmonic].tolist()])
        phase[harmonic, :width] = drawn.to(device) * (2 * math.pi)
    # table[n] = sum_k a_k sin(2 pi k n / T + theta_k)  <=>  X_k = (T / 2) a_k exp(i (theta_k - pi / 2))
    phase = phase + math.pi * (sign < 0)
    coef = torch.polar(amp * (TABLE_SIZE / 2), phase - math.pi / 2)
    spec = F.pad(coef, (1, 1))  # DC and Nyquist bins are 0
    table = torch.fft.irfft(spec, n=TABLE_SIZE)
    table = table / table.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
    return torch.cat((table, table[:, :1]), dim=1)


def _block_controls(ev: Events, block_event: torch.Tensor, block_t0: torch.Tensor,
                    duration: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Control-rate curves ``[n_blocks, BLOCK // CONTROL + 1]`` of amplitude (envelope x tremolo x
    gain), frequency (Hz, glide x vibrato) and FM index at the blocks' control points;
    ``block_t0`` is each block's first sample relative to its event's onset (negative before it)."""
    sr = SAMPLE_RATE
    p = {name: getattr(ev, name)[block_event][:, None] for name in (
        "gain", "f0", "glide", "glide_time", "vibrato_rate", "vibrato_depth", "tremolo_rate",
        "tremolo_depth", "attack", "decay", "sustain", "release", "damping", "fm_index",
        "fm_index_decay")}
    offs = torch.arange(BLOCK // CONTROL + 1, device=block_event.device, dtype=torch.float32) * CONTROL
    t = block_t0.float()[:, None] + offs[None, :]  # samples since the event's onset
    ts = t / sr
    dur = duration[block_event][:, None]
    attack = (p["attack"] * sr).clamp_min(1.0)
    release = (p["release"] * sr).clamp_min(1.0)
    edges = torch.minimum(t / attack, (dur - t) / release).clamp(0.0, 1.0)  # 0 outside the event
    decay_frac = ((t - attack) / (p["decay"] * sr).clamp_min(1.0)).clamp(0.0, 1.0)
    level = 1.0 - (1.0 - p["sustain"]) * decay_frac
    trem = 1.0 - p["tremolo_depth"] * (0.5 - 0.5 * torch.cos(2 * math.pi * p["tremolo_rate"] * ts))
    amp = edges * level * torch.exp(-p["damping"] * ts.clamp_min(0.0)) * trem * p["gain"]
    glide = (ts / p["glide_time"].clamp_min(1e-4)).clamp(0.0, 1.0) * p["glide"]
    vibrato = 1.0 + p["vibrato_depth"] * torch.sin(2 * math.pi * p["vibrato_rate"] * ts)
    freq = p["f0"] * torch.exp2(glide) * vibrato
    index = p["fm_index"] * torch.exp(-p["fm_index_decay"] * ts.clamp_min(0.0))
    return amp, freq, index


_RAMP: dict[torch.device, torch.Tensor] = {}


def _upsample(ctrl: torch.Tensor) -> torch.Tensor:
    """``[n, BLOCK // CONTROL + 1]`` control points -> ``[n, BLOCK]`` per sample, linear
    (one broadcast multiply-add; several times faster than ``F.interpolate`` on the CPU)."""
    ramp = _RAMP.get(ctrl.device)
    if ramp is None:
        ramp = _RAMP[ctrl.device] = torch.arange(CONTROL, device=ctrl.device, dtype=torch.float32) / CONTROL
    left = ctrl[:, :-1, None]
    return (left + (ctrl[:, 1:, None] - left) * ramp).reshape(ctrl.shape[0], BLOCK)


def _phase_offsets(freq_ctrl: torch.Tensor, block_event: torch.Tensor, first_block: torch.Tensor,
                   start_phase: torch.Tensor) -> torch.Tensor:
    """Unwrapped phase (cycles, float64) before every block: the exact sum of the per-sample
    increments of all earlier blocks of the same event (the per-sample frequency is the linear
    interpolation of ``freq_ctrl``, so a block's sum has a closed form) plus the start phase."""
    c = freq_ctrl.double() / SAMPLE_RATE
    # sum over one control segment of c_j + (c_{j+1} - c_j) i / CONTROL for i < CONTROL
    totals = (CONTROL * c[:, :-1] + (CONTROL - 1) / 2 * (c[:, 1:] - c[:, :-1])).sum(dim=1)
    exclusive = totals.cumsum(0) - totals
    return exclusive - exclusive[first_block[block_event]] + start_phase[block_event].double()


def _render_events(ev: Events, out: torch.Tensor, noise: torch.Tensor | None, noise_row: torch.Tensor | None,
                   *, samples: int, rows: int, device: torch.device) -> None:
    """Add all events into ``out [B * rows, BLOCK]`` (clip ``b`` is rows ``b * rows ..``) in place.

    Blocks sit on the output's BLOCK grid, so each block adds to exactly one output row (a fast
    row-wise ``index_add_``); an event's first block starts at the grid line before its onset and
    its envelope is 0 until the onset. ``noise`` is the flattened noise buffers (rows of
    ``rows * BLOCK`` samples plus a copy of their first BLOCK) and ``noise_row [N]`` each noise
    event's row.
    """
    sr = SAMPLE_RATE
    onset = (ev.onset * sr).round().long()
    keep = onset < samples
    # Blocks grouped by voice type (wavetable, FM, noise) so each step runs one code path.
    group = torch.where(ev.kind <= 3, 0, torch.where(ev.kind == _FM, 1, 2))
    order = torch.argsort(group.masked_fill(~keep, 3), stable=True)[: int(keep.sum())]
    ev, onset, group = ev.select(order), onset[order], group[order]
    if noise_row is not None:
        noise_row = noise_row[order]
    if len(ev) == 0:
        return
    duration = torch.minimum((ev.duration * sr).round().clamp_min(1.0), (samples - onset).float())
    lead = onset % BLOCK  # samples between the event's first grid line and its onset
    n_blocks = (lead + duration.long() + BLOCK - 1) // BLOCK
    first_block = n_blocks.cumsum(0) - n_blocks
    total_blocks = int(n_blocks.sum())
    block_event = torch.repeat_interleave(torch.arange(len(ev), device=device), n_blocks, output_size=total_blocks)
    block_index = torch.arange(total_blocks, device=device) - first_block[block_event]
    block_t0 = block_index * BLOCK - lead[block_event]
    out_row = ev.clip[block_event] * rows + onset[block_event] // BLOCK + block_index
    group_blocks = torch.zeros(3, dtype=torch.long, device=device).index_add_(0, group, n_blocks).tolist()

    amp_c, freq_c, index_c = _block_controls(ev, block_event, block_t0, duration)
    cycles_c = freq_c * (1.0 / sr)  # phase increment per sample
    tabled = ev.kind <= 3
    if group_blocks[0]:
        tables = _tables(ev.select(tabled), device).reshape(-1)
        tables_next = torch.cat((tables[1:], tables[:1]))  # tables_next[i] = tables[i + 1]
        table_base = (torch.cumsum(tabled.long(), 0) - 1).clamp_min(0) * (TABLE_SIZE + 1)
    if group_blocks[0] or group_blocks[1]:
        carrier0 = _phase_offsets(freq_c, block_event, first_block, ev.phase)
        mod0 = carrier0 * ev.fm_ratio[block_event].double()
        carrier0 = (carrier0 - carrier0.floor()).float()
        mod0 = (mod0 - mod0.floor()).float()
    if group_blocks[2]:
        noise_len = rows * BLOCK  # the buffers are as long as the FFT; rows carry BLOCK more
        # a noise event reads its buffer from noise_start onwards, wrapping at whole blocks
        read0 = torch.remainder((ev.noise_start[block_event] * noise_len).long() + block_t0, noise_len)
        read0 = read0 + noise_row[block_event] * (noise_len + BLOCK)
    arange = torch.arange(BLOCK, device=device)
    step = CPU_BLOCK_CHUNK if device.type == "cpu" else 8192
    group_start = 0
    for grp, count in enumerate(group_blocks):
        for lo in range(group_start, group_start + count, step):
            sl = slice(lo, min(lo + step, group_start + count))
            n = sl.stop - sl.start
            evs = block_event[sl]
            if grp == 2:
                wave = noise.index_select(0, (read0[sl, None] + arange).reshape(-1)).view(n, BLOCK)
            else:
                cum = _upsample(cycles_c[sl]).cumsum(dim=1)
                phase = torch.frac(cum + carrier0[sl, None])  # frequencies are > 0, so phase >= 0
                if grp == 0:
                    pos = phase * TABLE_SIZE
                    idx = (pos.long().clamp_(max=TABLE_SIZE - 1) + table_base[evs, None]).view(-1)
                    v0 = tables.index_select(0, idx).view(n, BLOCK)
                    v1 = tables_next.index_select(0, idx).view(n, BLOCK)
                    wave = torch.lerp(v0, v1, torch.frac(pos))
                else:
                    mod = torch.sin((2 * math.pi) * (cum * ev.fm_ratio[evs, None] + mod0[sl, None]))
                    wave = torch.sin((2 * math.pi) * phase + _upsample(index_c[sl]) * mod)
            out.index_add_(0, out_row[sl], wave * _upsample(amp_c[sl]))
        group_start += count


def _render_chunk(ev: Events, clips: ClipParams, *, samples: int, device: torch.device) -> torch.Tensor:
    """Render a chunk of clips: noise buffers, events, post-processing, peak.

    Spectra are real ``[clips, 2 * bins]`` interleaved (re, im) (see :func:`_expand`). Each FFT
    runs once over the whole chunk (a large FFT's setup costs about as much as transforming a
    clip), while element-wise spectral work goes ``POST_CLIPS`` clips at a time on the CPU so it
    stays in cache.
    """
    b = len(clips)
    # FFT length: a multiple of BLOCK with small prime factors, so the event grid doubles as the
    # zero-padded FFT buffer (no copy) and the FFTs are fast.
    rows = fast_fft_length(-(-samples // BLOCK))
    n_fft = rows * BLOCK
    bins = n_fft // 2 + 1
    step = POST_CLIPS if device.type == "cpu" else b

    def to_time(spectra: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfft(torch.view_as_complex(spectra.view(-1, bins, 2)), n=n_fft)

    # One complex Gaussian spectrum per clip drives all of its noise (background, noise, band).
    white = torch.empty(b, 2 * bins)
    for row, sd in zip(white, clips.seed.tolist()):
        torch.randn(2 * bins, generator=torch.Generator().manual_seed(sd), out=row)
    white = white.to(device)

    # Noise buffers only for clips whose events read them: rows [colour clips..., band clips...].
    noise = noise_row = None
    is_noise, is_band = ev.kind == _NOISE, ev.kind == _BAND
    if bool((is_noise | is_band).any()):
        need = torch.zeros(2, b, dtype=torch.bool, device=device)
        need[0, ev.clip[is_noise]] = True
        need[1, ev.clip[is_band]] = True
        colour_ids, band_ids = need[0].nonzero().flatten(), need[1].nonzero().flatten()
        row_of = torch.full((2, b), -1, dtype=torch.long, device=device)
        row_of[0, colour_ids] = torch.arange(colour_ids.numel(), device=device)
        row_of[1, band_ids] = colour_ids.numel() + torch.arange(band_ids.numel(), device=device)
        # A band row shares its clip's spectrum; band events read it at their own offsets, so
        # they are not time-aligned with the background (offset 0) that shares it.
        spectra = white.index_select(0, torch.cat((colour_ids, band_ids)))
        n_colour = colour_ids.numel()
        for first, ids, band in ((0, colour_ids, False), (n_colour, band_ids, True)):
            for lo in range(0, ids.numel(), step):
                hi = min(lo + step, ids.numel())
                part = spectra[first + lo:first + hi]
                part *= _noise_magnitudes(clips.select(ids[lo:hi]), n_fft, device, band=band)
        noise = torch.empty(spectra.shape[0], n_fft + BLOCK, device=device)
        noise[:, :n_fft] = to_time(spectra)
        noise[:, n_fft:] = noise[:, :BLOCK]  # wrap-around, so a block read never needs a modulo
        noise = noise.view(-1)
        noise_row = torch.where(is_band, row_of[1, ev.clip], row_of[0, ev.clip])

    out = torch.zeros(b * rows, BLOCK, device=device)
    _render_events(ev, out, noise, noise_row, samples=samples, rows=rows, device=device)
    mixed = torch.view_as_real(torch.fft.rfft(out.view(b, n_fft))).reshape(b, -1)

    # Post-processing: tilt and damping as zero-phase gains, then background noise at the SNR.
    for lo in range(0, b, step):
        sub, part = clips.select(slice(lo, lo + step)), mixed[lo:lo + step]
        part *= _post_gain(sub, n_fft, device)
        # Parseval over the one-sided spectrum: every bin counts twice except DC and Nyquist.
        edges = part[:, :2].square().sum(dim=1) + part[:, -2:].square().sum(dim=1)
        energy = (2 * torch.linalg.vector_norm(part, dim=1).square() - edges).clamp_min(0.0) / n_fft
        signal_rms = (energy / samples).sqrt()
        noise_rms = torch.where(signal_rms > 0, signal_rms, torch.ones_like(signal_rms)) * 10 ** (-sub.snr_db / 20)
        part.addcmul_(white[lo:lo + step], _noise_magnitudes(sub, n_fft, device, band=False) * noise_rms[:, None])
    wave = to_time(mixed)[:, :samples]
    return wave * (clips.peak / wave.abs().amax(dim=1).clamp_min(1e-12))[:, None]


def render(events: Events, clips: ClipParams, *, samples: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """Render a scene to float32 waveforms ``[len(clips), samples]`` at 16 kHz on ``device``.

    Deterministic: all randomness is in the scene (its values and seeds), so a clip renders the
    same whatever the batch, the chunking or the device (up to float rounding). Event ``clip``
    indices must lie in ``0..len(clips)-1``; events are cut at the clip end. Clips go in chunks
    of at most ``CPU_CHUNK_SAMPLES`` samples on the CPU and ``ACCEL_CHUNK_SAMPLES`` elsewhere,
    which bounds memory.
    """
    device = torch.device(device)
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    b = len(clips)
    events.validate()
    clips.validate()
    if len(events) and (int(events.clip.min()) < 0 or int(events.clip.max()) >= b):
        raise ValueError(f"event clip indices must be in 0..{b - 1}, got "
                         f"{int(events.clip.min())}..{int(events.clip.max())}")
    budget = CPU_CHUNK_SAMPLES if device.type == "cpu" else ACCEL_CHUNK_SAMPLES
    chunk = max(1, budget // (fast_fft_length(-(-samples // BLOCK)) * BLOCK))
    waves = torch.empty(b, samples, device=device)
    for lo in range(0, b, chunk):
        hi = min(lo + chunk, b)
        ev = events.select(((events.clip >= lo) & (events.clip < hi)).nonzero().flatten())
        ev = replace(ev, clip=ev.clip - lo).to(device)
        waves[lo:hi] = _render_chunk(ev, clips.select(slice(lo, hi)).to(device), samples=samples, device=device)
    return waves


def synthesize(n: int, *, seconds: float, generator: torch.Generator, device: str | torch.device = "cpu",
               mix: str = "full") -> torch.Tensor:
    """``n`` random procedural clips (:func:`random_scene`) as float32 waveforms ``[n, samples]``,
    ``samples = round(seconds * 16000)``, peak-normalised, on ``device``."""
    samples = int(round(seconds * SAMPLE_RATE))
    if samples < 1:
        raise ValueError(f"seconds must give at least one sample, got {seconds}")
    events, clips = random_scene(n, seconds=samples / SAMPLE_RATE, generator=generator, mix=mix)
    return render(events, clips, samples=samples, device=device)
