"""Embeddings: clip and token embeddings equal the encoder on the workbench's own inputs, windows
and timestamps continue over long audio, folders, the .npz layout, errors and the CLI."""

import numpy as np
import pytest
import soundfile as sf
import torch

import workbench
from workbench import models
from workbench.audio.frontend import AUDIOSET_STATS, AudioLoadError, crop_or_pad, fbank, normalize, wav2fbank
from workbench.cli import main
from workbench.embed import EmbedResult, embed, load_embedder
from workbench.export import export

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.one_thread

SR = 16_000


def save_run(folder, model, stats=AUDIOSET_STATS):
    """A run folder with the checkpoint keys embedding reads (weights, model config, norm stats)."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "model_config": model.cfg.to_dict(), "step": 0,
                "norm_stats": stats.to_dict(), "config": {"dataset": "fractaldb", "model": "nano"}},
               folder / "checkpoint.pt")
    return folder


@pytest.fixture(scope="module")
def patch_run(tmp_path_factory):
    torch.manual_seed(0)
    return save_run(tmp_path_factory.mktemp("embed") / "patch", models.build("nano", frames=32))


def wave_of(seconds, *, freq=440.0, seed=0):
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    return (0.4 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def write(path, seconds, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wave_of(seconds, **kw), SR, subtype="PCM_16")
    return path


def test_workbench_embed_is_the_function():
    assert workbench.embed is embed


def test_a_short_clip_embeds_as_the_encoder_on_the_workbench_input(patch_run):
    wave = torch.from_numpy(wave_of(0.2))
    r = embed(wave, init=patch_run, progress=False)
    encoder = load_embedder(patch_run).encoder
    x = normalize(wav2fbank(wave, target_frames=32), AUDIOSET_STATS)[None]  # [1, 1, 128, 32]
    with torch.no_grad():
        pooled = encoder.forward_features(x, pool="mean")[0]
        tokens = encoder.forward_features(x, pool="none")[0]  # [8 rows x 2 columns, D], row-major
    assert r.paths == ["<wave 0>"] and r.clip.shape == (1, 64)
    torch.testing.assert_close(torch.from_numpy(r.clip[0]), pooled, rtol=0, atol=1e-6)
    # 0.2 s = 18 frames: of the two 16-frame columns (centres 87.5, 247.5 ms) only the first lies in the audio
    columns = tokens.reshape(8, 2, 64).mean(dim=0)
    assert r.tokens[0].shape == (1, 64) and r.timestamps_ms[0].tolist() == [87.5]
    torch.testing.assert_close(torch.from_numpy(r.tokens[0][0]), columns[0], rtol=0, atol=1e-6)


def test_long_audio_is_cut_into_windows_and_timestamps_continue_across_them(patch_run):
    wave = torch.from_numpy(wave_of(1.0))  # 98 frames: windows of 32, 32, 32 and 2 (zero-padded)
    r = embed([wave], init=patch_run, progress=False, batch_size=3)
    encoder = load_embedder(patch_run).encoder
    spec = fbank(wave)
    windows = torch.stack([normalize(crop_or_pad(spec[k:k + 32], 32).T[None], AUDIOSET_STATS)
                           for k in range(0, 128, 32)])  # [4, 1, 128, 32]
    with torch.no_grad():
        pooled = encoder.forward_features(windows, pool="mean")
        columns = encoder.forward_features(windows, pool="none").reshape(4, 8, 2, 64).mean(dim=1).reshape(8, 64)
    torch.testing.assert_close(torch.from_numpy(r.clip[0]), pooled.mean(dim=0), rtol=0, atol=1e-6)
    # 16-frame columns centred at 87.5 + 160 j ms; from the 7th (1047.5 ms) on they lie past the 1 s of audio
    stamps = r.timestamps_ms[0]
    assert stamps.tolist() == [87.5 + 160 * j for j in range(6)]
    torch.testing.assert_close(torch.from_numpy(r.tokens[0]), columns[:6], rtol=0, atol=1e-6)


def test_frame_tokens_give_a_time_series_every_20_ms(tmp_path):
    torch.manual_seed(1)
    run = save_run(tmp_path / "frame", models.build("nano", tokens="frame", frames=32))
    r = embed(torch.from_numpy(wave_of(0.5)), init=run, progress=False)
    stamps = r.timestamps_ms[0]
    assert stamps[0] == 17.5 and np.all(np.diff(stamps) == 20.0)
    assert stamps[-1] <= 500.0 < stamps[-1] + 20.0  # up to the end of the audio, no further
    assert r.tokens[0].shape == (len(stamps), 64)


def test_cls_pooling_needs_a_cls_token_and_gives_its_output(patch_run, tmp_path):
    with pytest.raises(ValueError, match=r"pool='cls' needs an encoder pre-trained with use_cls=True.*patch"):
        embed(torch.zeros(1600), init=patch_run, pool="cls", progress=False)
    torch.manual_seed(2)
    run = save_run(tmp_path / "cls", models.build("nano", frames=32, use_cls=True))
    wave = torch.from_numpy(wave_of(0.2))
    r = embed(wave, init=run, pool="cls", progress=False)
    x = normalize(wav2fbank(wave, target_frames=32), AUDIOSET_STATS)[None]
    with torch.no_grad():
        cls = load_embedder(run).encoder.forward_features(x, pool="cls")[0]
    torch.testing.assert_close(torch.from_numpy(r.clip[0]), cls, rtol=0, atol=1e-6)
    assert r.tokens[0].shape[0] == 1  # the CLS output is not a token


def test_a_folder_gives_one_row_per_audio_file_by_relative_path_and_batching_changes_nothing(patch_run, tmp_path):
    root = tmp_path / "sounds"
    write(root / "b.wav", 0.3, freq=300)
    write(root / "sub" / "a.flac", 1.4, freq=2000)
    write(root / "c.wav", 0.1, freq=900)
    (root / "notes.txt").write_text("not audio")
    together = embed(root, init=patch_run, progress=False, batch_size=64)
    assert together.paths == ["b.wav", "c.wav", "sub/a.flac"]
    assert together.clip.shape == (3, 64) and [len(t) for t in together.tokens] == [2, 1, 9]
    alone = [embed(root / p, init=patch_run, progress=False, batch_size=1) for p in together.paths]
    for i, one in enumerate(alone):
        np.testing.assert_allclose(one.clip[0], together.clip[i], rtol=0, atol=1e-5)
        np.testing.assert_allclose(one.tokens[0], together.tokens[i], rtol=0, atol=1e-5)
        assert one.paths == [str(root / together.paths[i])]


def test_an_export_embeds_as_its_run(tmp_path):
    from workbench.train.pretrain import PretrainConfig, pretrain

    run = tmp_path / "run"
    pretrain(PretrainConfig(dataset="stat_spectrum", model="nano", frames=32, steps=1, batch_size=2, device="cpu",
                            out_dir=str(run)), progress=False)
    exported = export(run, tmp_path / "exp")
    wave = torch.from_numpy(wave_of(0.7))
    a, b = (embed(wave, init=init, progress=False) for init in (run, exported))
    np.testing.assert_array_equal(a.clip, b.clip)
    np.testing.assert_array_equal(a.tokens[0], b.tokens[0])


def test_unreadable_and_missing_audio_are_named(patch_run, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF this is no wave")
    with pytest.raises(AudioLoadError, match=r"cannot read audio file .*bad.wav"):
        embed([write(tmp_path / "ok.wav", 0.2), bad], init=patch_run, progress=False)
    with pytest.raises(AudioLoadError, match=r"audio file not found: .*missing.wav"):
        embed(tmp_path / "missing.wav", init=patch_run, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(AudioLoadError, match=r"no audio files .* under the folder .*empty"):
        embed(tmp_path / "empty", init=patch_run, progress=False)


def test_the_npz_holds_plain_padded_arrays_and_loads_back(patch_run, tmp_path):
    r = embed([torch.from_numpy(wave_of(0.3)), torch.from_numpy(wave_of(1.0))], init=patch_run, progress=False)
    path = r.save(tmp_path / "emb.npz")
    with np.load(path, allow_pickle=False) as data:  # no object arrays: nothing to unpickle
        assert sorted(data.files) == ["clip", "lengths", "paths", "pool", "timestamps_ms", "tokens"]
        assert data["paths"].tolist() == ["<wave 0>", "<wave 1>"] and str(data["pool"]) == "mean"
        assert data["lengths"].tolist() == [2, 6] and data["tokens"].shape == (2, 6, 64)
        assert np.all(data["tokens"][0, 2:] == 0) and np.all(np.isnan(data["timestamps_ms"][0, 2:]))
    back = EmbedResult.load(path)
    assert back.paths == r.paths and np.array_equal(back.clip, r.clip)
    assert all(np.array_equal(a, b) for a, b in zip(back.tokens, r.tokens))
    assert all(np.array_equal(a, b) for a, b in zip(back.timestamps_ms, r.timestamps_ms))
    with pytest.raises(FileExistsError, match=r"emb.npz exists"):
        r.save(path)


def test_cli_embed_writes_the_npz_shows_progress_and_fails_in_one_line(patch_run, tmp_path, capsys):
    root = tmp_path / "sounds"
    write(root / "x.wav", 0.5)
    out = tmp_path / "out" / "emb.npz"
    assert main(["embed", str(root), "--init", str(patch_run), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "wrote 1 clip embeddings of size 64" in captured.out and "embed" in captured.err  # tqdm's bar
    assert EmbedResult.load(out).paths == ["x.wav"]
    assert main(["embed", str(root), "--init", str(patch_run), "--out", str(out)]) == 2
    assert "exists; choose another --out or pass --overwrite" in capsys.readouterr().err
    (root / "broken.wav").write_bytes(b"nope")
    assert main(["embed", str(root), "--init", str(patch_run), "--out", str(out), "--overwrite", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot read audio file") and "broken.wav" in err and len(err.splitlines()) == 1
