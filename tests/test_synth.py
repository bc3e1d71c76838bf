"""The batched synthesiser's primitives against known answers, the batched log-mel against Kaldi
fbank, and the ``synth_sounds`` task's contract. Clips are short (0.5-1 s) to stay fast."""

import math

import pytest
import torch

from workbench.audio import synth
from workbench.audio.frontend import SAMPLE_RATE, fbank, logmel_batch
from workbench.audio.synth import ClipParams, Events, render
from workbench.audio.synth_sounds import CLASSES, make_synth_sounds

SR = SAMPLE_RATE


def _one_event(seconds: float = 1.0, *, clip: ClipParams | None = None, **fields) -> torch.Tensor:
    """A single steady event filling the clip (5 ms ramps), no post-processing: ``[samples]``."""
    fields = dict(dict(clip=0, onset=0.0, duration=seconds, attack=0.005, release=0.005), **fields)
    clip = clip if clip is not None else ClipParams.build(1)
    return render(Events.build(**fields), clip, samples=int(seconds * SR))[0]


def _magnitude_at(spectrum: torch.Tensor, hz: float, *, resolution: float, width: int = 2) -> float:
    i = round(hz / resolution)
    return float(spectrum[max(i - width, 0):i + width + 1].max())


# ---- log-mel front-end -------------------------------------------------------------------------

def test_logmel_batch_matches_kaldi_fbank_per_clip():
    g = torch.Generator().manual_seed(0)
    t = torch.arange(8000) / SR
    waves = torch.stack([
        0.3 * torch.sin(2 * math.pi * 440 * t) + 0.01 * torch.randn(8000, generator=g),
        torch.randn(8000, generator=g) * 0.2 + 0.5,  # DC offset: removed per frame by both
        torch.cat((torch.zeros(3000), 0.5 * torch.sin(2 * math.pi * 3000 * t[:5000]))),  # silence, then a tone
    ])
    ours = logmel_batch(waves)
    assert ours.shape == (3, 128, 1 + (8000 - 400) // 160) and ours.dtype == torch.float32
    ref = torch.stack([fbank(w).T for w in waves])
    diff = (ours - ref).abs()
    assert float(diff.max()) < 1e-2 and float(diff.median()) < 1e-4


def test_logmel_batch_short_clip_gives_one_frame_like_fbank():
    w = torch.randn(1, 100)
    assert logmel_batch(w).shape == (1, 128, 1)
    assert torch.allclose(logmel_batch(w)[0], fbank(w[0]).T, atol=1e-2)
    with pytest.raises(ValueError, match="waves"):
        logmel_batch(torch.zeros(10))


# ---- primitives --------------------------------------------------------------------------------

def test_harmonic_partials_roll_off_as_k_to_minus_gamma():
    gamma = 1.5
    wave = _one_event(kind="harmonic", f0=250.0, gamma=gamma, partials=6, seed=3)
    spec = torch.fft.rfft(wave).abs()  # 1 Hz per bin for a 1 s clip
    mags = torch.tensor([_magnitude_at(spec, 250.0 * k, resolution=1.0) for k in range(1, 8)])
    ratios = mags[:6] / mags[0]
    expected = torch.arange(1, 7, dtype=torch.float32) ** -gamma
    assert torch.allclose(ratios, expected, rtol=0.05)
    assert mags[6] < 1e-3 * mags[0], "partial 7 sounds although partials=6"


def test_harmonic_fundamental_sits_in_the_expected_mel_bin():
    f0 = 440.0
    mel = logmel_batch(_one_event(kind="harmonic", f0=f0, gamma=2.0, partials=8)[None])[0]
    # Kaldi mel bands: centres evenly spaced in 1127 ln(1 + f / 700) from 20 Hz to Nyquist
    lo, hi = 1127 * math.log1p(20 / 700), 1127 * math.log1p(SR / 2 / 700)
    centres = [700 * (math.exp((lo + (m + 1) * (hi - lo) / 129) / 1127) - 1) for m in range(128)]
    expected = min(range(128), key=lambda m: abs(centres[m] - f0))
    profile = mel[:, 10:-10].mean(dim=1)
    assert abs(int(profile.argmax()) - expected) <= 1
    second = min(range(128), key=lambda m: abs(centres[m] - 2 * f0))
    assert abs(int(profile[expected + 3:].argmax()) + expected + 3 - second) <= 1  # the 2nd partial


def test_fm_sidebands_at_carrier_plus_minus_k_modulator():
    fc, ratio, index = 1000.0, 1.5, 1.5  # ratio from AudioPG's set; fm = 1500 Hz
    fm = fc * ratio
    spec = torch.fft.rfft(_one_event(kind="fm", f0=fc, fm_ratio=ratio, fm_index=index)).abs()
    # sin(wc t + I sin(wm t)) = sum_k J_k(I) sin((wc + k wm) t); |J_k(1.5)| for k = 0..3
    bessel = [0.5118, 0.5579, 0.2321, 0.0610]
    carrier = _magnitude_at(spec, fc, resolution=1.0)
    for k in (1, 2, 3):
        for line in (fc + k * fm, abs(fc - k * fm)):
            assert _magnitude_at(spec, line, resolution=1.0) / carrier == pytest.approx(bessel[k] / bessel[0], rel=0.1)
    for off_line in (750.0, 1250.0, 3000.0):  # no energy between the sidebands
        assert _magnitude_at(spec, off_line, resolution=1.0) < 0.01 * carrier


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_noise_colour_spectral_slope_matches_its_exponent(exponent):
    wave = _one_event(kind="noise", clip=ClipParams.build(1, noise_exponent=exponent, seed=7), seconds=2.0)
    power = torch.fft.rfft(wave).abs().square()
    freqs = torch.fft.rfftfreq(wave.numel(), 1 / SR)
    edges = torch.logspace(math.log10(200), math.log10(6000), 16)
    centres, levels = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        band = (freqs >= a) & (freqs < b)
        centres.append(math.log10(float(freqs[band].mean())))
        levels.append(math.log10(float(power[band].mean())))
    x, y = torch.tensor(centres), torch.tensor(levels)
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / (x - x.mean()).square().sum())
    assert slope == pytest.approx(-exponent, abs=0.15)


def test_band_noise_peaks_at_its_centre():
    clip = ClipParams.build(1, band_centre=1500.0, band_octaves=0.5, seed=1)
    spec = torch.fft.rfft(_one_event(kind="band", clip=clip)).abs().square()
    smooth = torch.nn.functional.avg_pool1d(spec[None, None], 101, 1, 50)[0, 0]
    assert abs(math.log2(float(smooth.argmax()) / 1500.0)) < 0.15  # 1 Hz per bin


@pytest.mark.parametrize("kind", ["saw", "square", "triangle"])
def test_pulse_waves_are_band_limited_with_the_right_harmonics(kind):
    f0 = 1250.0  # partials 1..6 fit below 0.95 x Nyquist; an aliasing saw would leak elsewhere
    steady = _one_event(kind=kind, f0=f0)[1600:14400]  # 0.8 s: 1.25 Hz bins, harmonics on bins
    spec = torch.fft.rfft(steady * torch.hann_window(steady.numel())).abs()
    resolution = SR / steady.numel()
    harmonic_bins = torch.zeros_like(spec, dtype=torch.bool)
    for k in range(1, 7):
        harmonic_bins[round((k * f0 - 10) / resolution):round((k * f0 + 10) / resolution)] = True
    assert float(spec[~harmonic_bins].square().sum()) < 1e-6 * float(spec.square().sum())
    first = _magnitude_at(spec, f0, resolution=resolution)
    second = _magnitude_at(spec, 2 * f0, resolution=resolution)
    if kind == "saw":
        assert second / first == pytest.approx(0.5, rel=0.05)
    else:  # odd harmonics only
        assert second < 1e-3 * first


def test_adsr_envelope_levels_and_silence_outside_the_event():
    wave = _one_event(kind="harmonic", f0=500.0, partials=1, onset=0.1, duration=0.6, attack=0.05, decay=0.1,
                      sustain=0.4, release=0.1)
    level = lambda a, b: float(wave[int(a * SR):int(b * SR)].abs().max())  # noqa: E731
    peak = level(0.14, 0.16)  # end of the attack
    assert level(0.0, 0.099) < 1e-5 * peak and level(0.701, 1.0) < 1e-5 * peak  # (FFT rounding only)
    assert level(0.3, 0.55) / peak == pytest.approx(0.4, rel=0.03)  # sustain
    assert level(0.11, 0.12) < 0.5 * peak and level(0.685, 0.7) < 0.2 * peak  # attack and release ramps


def test_glide_reaches_its_target_pitch():
    wave = _one_event(kind="harmonic", f0=400.0, partials=1, glide=1.0, glide_time=0.4)
    tail = wave[int(0.5 * SR):int(0.99 * SR)]
    spec = torch.fft.rfft(tail * torch.hann_window(tail.numel())).abs()
    assert float(spec.argmax()) * SR / tail.numel() == pytest.approx(800.0, rel=0.01)


# ---- scenes, determinism, validation -----------------------------------------------------------

def test_synthesize_is_deterministic_and_seed_dependent():
    a = synth.synthesize(2, seconds=0.5, generator=torch.Generator().manual_seed(0))
    b = synth.synthesize(2, seconds=0.5, generator=torch.Generator().manual_seed(0))
    c = synth.synthesize(2, seconds=0.5, generator=torch.Generator().manual_seed(1))
    assert a.shape == (2, 8000) and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(a).all()
    assert torch.allclose(a.abs().amax(dim=1), torch.full((2,), 0.95))


def test_a_clip_renders_the_same_alone_or_in_a_batch():
    events, clips = synth.random_scene(6, seconds=0.5, generator=torch.Generator().manual_seed(4))
    together = render(events, clips, samples=8000)
    own = events.select(events.clip == 5)
    own.clip = torch.zeros_like(own.clip)
    alone = render(own, clips.select(slice(5, 6)), samples=8000)
    assert torch.allclose(together[5], alone[0], atol=1e-5)


def test_batch_of_one_and_every_mix():
    for mix in synth.MIXES:
        w = synth.synthesize(1, seconds=0.3, generator=torch.Generator().manual_seed(2), mix=mix)
        assert w.shape == (1, 4800) and torch.isfinite(w).all() and float(w.abs().max()) > 0


def test_mixes_draw_only_their_primitive_kinds():
    noise_kinds = {synth.KINDS.index("noise")}  # transients are noise bursts in every mix
    for mix, kinds in synth.MIXES.items():
        events, _ = synth.random_scene(20, seconds=1.0, generator=torch.Generator().manual_seed(0), mix=mix)
        allowed = {synth.KINDS.index(k) for k in kinds} | noise_kinds
        assert set(events.kind.tolist()) <= allowed
    events, _ = synth.random_scene(40, seconds=1.0, generator=torch.Generator().manual_seed(0))
    assert set(events.kind.tolist()) == set(range(len(synth.KINDS)))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="valid kinds"):
        Events.build(clip=0, kind="gong", onset=0.0, duration=1.0)
    with pytest.raises(TypeError, match="unknown Events fields"):
        Events.build(clip=0, kind="fm", onset=0.0, duration=1.0, pitch=3.0)
    with pytest.raises(ValueError, match="valid mixes"):
        synth.random_scene(1, seconds=1.0, generator=torch.Generator(), mix="drums")
    with pytest.raises(ValueError, match="clip indices"):
        render(Events.build(clip=3, kind="fm", onset=0.0, duration=0.1), ClipParams.build(2), samples=800)
    with pytest.raises(ValueError, match="durations"):
        Events.build(clip=0, kind="fm", onset=0.0, duration=0.0)


def test_fast_fft_length():
    assert [synth.fast_fft_length(n) for n in (1, 7, 161, 400, 163840)] == [1, 8, 162, 400, 163840]


# ---- synth_sounds -----------------------------------------------------------------------------

def test_synth_sounds_balanced_deterministic_and_disjoint_splits():
    waves, labels, names = make_synth_sounds("train", n_per_class=2, seed=0, seconds=0.25)
    assert names == list(CLASSES) and len(names) >= 10
    assert waves.shape == (2 * len(names), 4000) and waves.dtype == torch.float32
    assert labels.dtype == torch.int64 and torch.bincount(labels).tolist() == [2] * len(names)
    assert torch.isfinite(waves).all() and float(waves.abs().max()) <= 1.0
    again, labels_again, _ = make_synth_sounds("train", n_per_class=2, seed=0, seconds=0.25)
    assert torch.equal(waves, again) and torch.equal(labels, labels_again)
    test, test_labels, _ = make_synth_sounds("test", n_per_class=1, seed=0, seconds=0.25)
    assert torch.equal(test_labels, torch.arange(len(names)))
    assert not any(torch.equal(w, t) for w in waves for t in test)
    other_seed, _, _ = make_synth_sounds("train", n_per_class=1, seed=1, seconds=0.25)
    assert not any(torch.equal(w, o) for w, o in zip(waves, other_seed))


def test_synth_sounds_classes_have_their_signature():
    waves, labels, names = make_synth_sounds("test", n_per_class=1, seed=3, seconds=0.5)
    mel = logmel_batch(waves)
    profile = {name: mel[i] for i, name in enumerate(names)}
    tone = profile["pure_tone"].mean(dim=1)
    assert float(tone.max() - tone.median()) > 5  # one narrow peak in frequency
    up, down = profile["chirp_up"], profile["chirp_down"]
    active = lambda m: (m.amax(dim=0) > m.amax() - 3).nonzero().flatten()  # noqa: E731
    peak_bin = lambda m, t: int(m[:, t].argmax())  # noqa: E731
    fu, fd = active(up), active(down)
    assert peak_bin(up, fu[-1]) > peak_bin(up, fu[0]) and peak_bin(down, fd[-1]) < peak_bin(down, fd[0])


def test_synth_sounds_rejects_bad_arguments():
    with pytest.raises(ValueError, match="valid splits"):
        make_synth_sounds("validation")
    with pytest.raises(ValueError, match="n_per_class"):
        make_synth_sounds("train", n_per_class=0)


# ---- devices ------------------------------------------------------------------------------------

@pytest.mark.gpu
def test_cpu_and_gpu_agree():
    events, clips = synth.random_scene(3, seconds=1.0, generator=torch.Generator().manual_seed(5))
    cpu = render(events, clips, samples=SR)
    gpu = render(events, clips, samples=SR, device="cuda")
    assert gpu.device.type == "cuda" and gpu.shape == cpu.shape
    assert float((gpu.cpu() - cpu).abs().max()) < 1e-2
    mc, mg = logmel_batch(cpu), logmel_batch(gpu).cpu()
    assert abs(float(mc.mean() - mg.mean())) < 0.01 * float(mc.std()) and float((mc.std() / mg.std() - 1).abs()) < 0.01
