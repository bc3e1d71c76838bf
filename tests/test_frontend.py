import math

import numpy as np
import pytest
import soundfile as sf
import torch

from workbench.audio import (AUDIOSET_STATS, AudioLoadError, compute_norm_stats, crop_or_pad, fbank,
                             frames_for_seconds, load_audio, normalize, wav2fbank)


def tone(freq=440.0, seconds=1.0, sr=16000):
    t = torch.arange(int(seconds * sr)) / sr
    return 0.5 * torch.sin(2 * math.pi * freq * t)


def test_fbank_shape_matches_kaldi_framing():
    spec = fbank(tone(seconds=5.0))
    assert spec.shape == (frames_for_seconds(5.0), 128) == (498, 128)


def test_tone_energy_sits_in_the_right_mel_bin():
    low, high = fbank(tone(300.0)), fbank(tone(3000.0))
    assert low.mean(0).argmax() < high.mean(0).argmax()
    hz_to_mel = lambda f: 1127 * math.log(1 + f / 700)  # noqa: E731
    # 128 HTK mel bins between 20 Hz and 8 kHz: the peak bin is where 3 kHz falls.
    expected = (hz_to_mel(3000) - hz_to_mel(20)) / (hz_to_mel(8000) - hz_to_mel(20)) * 129 - 1
    assert abs(int(high.mean(0).argmax()) - expected) <= 2


def test_wav2fbank_crops_and_pads_to_target():
    assert wav2fbank(tone(seconds=0.5), target_frames=100).shape == (1, 128, 100)
    x = wav2fbank(tone(seconds=3.0), target_frames=100)
    assert x.shape == (1, 128, 100)
    padded = wav2fbank(tone(seconds=0.3), target_frames=100)
    assert (padded[..., 40:] == 0).all()


def test_random_crop_is_seeded():
    spec = torch.randn(300, 128)
    a = crop_or_pad(spec, 100, generator=torch.Generator().manual_seed(1))
    b = crop_or_pad(spec, 100, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (100, 128)


def test_normalisation_gives_mean_zero_std_half():
    specs = [fbank(tone(f)) for f in (200.0, 800.0, 2500.0)]
    stats = compute_norm_stats(specs)
    z = torch.cat([normalize(s, stats).flatten() for s in specs])
    assert abs(float(z.mean())) < 1e-4 and float(z.std()) == pytest.approx(0.5, rel=1e-3)
    assert AUDIOSET_STATS.mean == pytest.approx(-4.2677, abs=1e-3)


def test_load_resamples_and_downmixes(tmp_path):
    stereo = np.stack([tone(sr=8000).numpy(), tone(sr=8000).numpy()], axis=1)
    sf.write(tmp_path / "a.wav", stereo, 8000)
    wave = load_audio(tmp_path / "a.wav")
    assert wave.shape == (16000,) and wave.dtype == torch.float32


def test_corrupt_and_missing_files_are_named(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    with pytest.raises(AudioLoadError, match="broken.wav"):
        load_audio(bad)
    with pytest.raises(AudioLoadError, match="not found: .*nothere.wav"):
        load_audio(tmp_path / "nothere.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype="float32"), 16000)
    with pytest.raises(AudioLoadError, match="empty.wav contains no samples"):
        load_audio(tmp_path / "empty.wav")
