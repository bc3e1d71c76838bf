"""The HEAR 2021 API (workbench.hear), checked the way hear-validator checks a submission (without
installing it: it pulls TensorFlow), plus batch invariance and lengths around the model's window."""

import numpy as np
import pytest
import torch

from workbench import hear, models
from workbench.audio.frontend import AUDIOSET_STATS
from workbench.embed import embed
from workbench.export import export

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.one_thread


def save_run(folder, model):
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "model_config": model.cfg.to_dict(), "step": 0,
                "norm_stats": AUDIOSET_STATS.to_dict(), "config": {"dataset": "fractaldb", "model": "nano"}},
               folder / "checkpoint.pt")
    return folder


@pytest.fixture(scope="module", params=["patch", "frame"])
def run(request, tmp_path_factory):
    """Runs of both token kinds: 32-frame (0.32 s) windows of 16-frame patches or 2-frame tokens."""
    torch.manual_seed(0)
    return save_run(tmp_path_factory.mktemp("hear") / request.param, models.build("nano", tokens=request.param,
                                                                                   frames=32))


def white_noise(n, seconds, seed=0):
    """The validator's test audio: uniform noise in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, int(seconds * 16000), generator=g) * 2 - 1


def test_the_model_is_a_torch_module_with_the_api_attributes(run):
    model = hear.load_model(str(run))
    assert isinstance(model, torch.nn.Module)
    assert model.to("cpu") is model  # the kit and the validator move it themselves
    assert model.sample_rate == 16000
    for size in (model.scene_embedding_size, model.timestamp_embedding_size):
        assert isinstance(size, int) and size == model.encoder.cfg.enc_dim


@pytest.mark.parametrize("seconds", [0.2, 1.07, 1.98, 4.0])  # shorter and longer than the 0.32 s window
def test_timestamp_embeddings_pass_the_validators_checks(run, seconds):
    model = hear.load_model(str(run))
    n = 2
    emb, ts = hear.get_timestamp_embeddings(white_noise(n, seconds), model)
    assert isinstance(emb, torch.Tensor) and emb.dtype == torch.float32
    assert emb.ndim == 3 and ts.ndim == 2 and emb.shape[0] == n and emb.shape[:2] == ts.shape
    assert emb.shape[2] == model.timestamp_embedding_size
    ts = ts.cpu().numpy()
    assert np.array_equal(ts[0], ts[1])  # same length, same times
    length_ms = 1000 * seconds
    if ts.shape[1] > 1:
        diff = np.diff(ts)
        assert np.all(diff > 0) and np.max(np.abs(diff - diff.mean())) <= 1  # monotonic, evenly spaced
        assert ts.min() <= diff.mean()  # begins at the start
        assert length_ms - 2 * diff.mean() <= ts.max() <= length_ms  # reaches the end, not past it
    else:
        assert ts.max() <= max(length_ms, 87.5)
    assert torch.isfinite(emb).all()


def test_scene_embeddings_pass_the_validators_checks(run):
    model = hear.load_model(str(run))
    emb = hear.get_scene_embeddings(white_noise(4, 2.74), model)
    assert isinstance(emb, torch.Tensor) and emb.dtype == torch.float32
    assert emb.shape == (4, model.scene_embedding_size) and torch.isfinite(emb).all()
    assert not torch.allclose(emb[0], emb[1])  # different sounds, different embeddings


def test_a_batch_gives_what_its_sounds_give_one_by_one(run):
    model = hear.load_model(str(run), batch_size=4)
    audio = white_noise(3, 1.3, seed=5)
    scene = hear.get_scene_embeddings(audio, model)
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    for i in range(3):
        one = audio[i:i + 1]
        torch.testing.assert_close(hear.get_scene_embeddings(one, model)[0], scene[i], rtol=0, atol=1e-5)
        e, t = hear.get_timestamp_embeddings(one, model)
        torch.testing.assert_close(e[0], emb[i], rtol=0, atol=1e-5)
        assert torch.equal(t[0], ts[i])


def test_no_gradient_is_needed_or_recorded(run):
    model = hear.load_model(str(run))
    audio = white_noise(1, 0.5).requires_grad_(True)
    with torch.enable_grad():
        scene = hear.get_scene_embeddings(audio, model)
        emb, ts = hear.get_timestamp_embeddings(audio, model)
    assert not scene.requires_grad and not emb.requires_grad and not ts.requires_grad
    with torch.inference_mode():
        assert hear.get_scene_embeddings(white_noise(1, 0.5), model).shape == (1, model.scene_embedding_size)


def test_the_numbers_are_the_embed_modules(run):
    model = hear.load_model(str(run))
    audio = white_noise(1, 0.9, seed=3)
    r = embed(audio, init=run, progress=False)
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    np.testing.assert_allclose(hear.get_scene_embeddings(audio, model)[0].numpy(), r.clip[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(emb[0].numpy(), r.tokens[0], rtol=0, atol=1e-6)
    assert ts[0].tolist() == r.timestamps_ms[0].tolist()


def test_load_model_takes_a_checkpoint_file_or_an_export_and_needs_a_path(tmp_path):
    from workbench.train.pretrain import PretrainConfig, pretrain

    run = tmp_path / "run"
    pretrain(PretrainConfig(dataset="stat_spectrum", model="nano", frames=32, steps=1, batch_size=2, device="cpu",
                            out_dir=str(run)), progress=False)
    audio = white_noise(1, 0.6)
    scenes = [hear.get_scene_embeddings(audio, hear.load_model(str(path)))
              for path in (run, run / "checkpoint.pt", export(run, tmp_path / "exp"))]
    assert all(torch.equal(scenes[0], s) for s in scenes[1:])
    with pytest.raises(ValueError, match=r"no built-in weights: pass a pre-training run folder"):
        hear.load_model()


def test_wrong_inputs_are_named(run):
    model = hear.load_model(str(run))
    with pytest.raises(ValueError, match=r"\[n_sounds, n_samples\].*\(16000,\)"):
        hear.get_scene_embeddings(torch.zeros(16000), model)
    with pytest.raises(TypeError, match=r"workbench.hear.load_model"):
        hear.get_timestamp_embeddings(torch.zeros(1, 16000), model.encoder)
