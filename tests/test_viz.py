"""viz: the explorer's pure callback, its figure data, and the widget wiring (no browser)."""

import numpy as np
import pytest
import torch

from workbench import models, viz

FRAMES = 64  # patch grid 8 x 4 = 32 tokens; frame grid 1 x 32


@pytest.fixture(scope="module")
def patch_model():
    torch.manual_seed(0)
    return models.build("nano", frames=FRAMES)


@pytest.fixture(scope="module")
def frame_model():
    torch.manual_seed(0)
    return models.build("nano", frames=FRAMES, tokens="frame")


@pytest.fixture(scope="module")
def x():
    return 0.5 * torch.randn(1, 128, FRAMES, generator=torch.Generator().manual_seed(1))


def pixel_mask(state, model):
    """Token mask [rows, cols] -> pixel mask [F, T]."""
    c = model.cfg
    h, w = (c.patch_size, c.patch_size) if c.tokens == "patch" else (c.n_mels, c.frame_width)
    return np.kron(state.mask, np.ones((h, w), dtype=bool)).astype(bool)


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("masking", ["random", "chunk"])
def test_masked_fraction_matches_the_slider(patch_model, x, ratio, masking):
    s = viz.explorer_state(patch_model, x, mask_ratio=ratio, masking=masking, seed=0)
    assert s.masked_fraction == ratio  # 32 tokens: these ratios are exact counts
    assert s.mask.sum() == round(32 * ratio)


@pytest.mark.parametrize("model_name", ["patch_model", "frame_model"])
def test_images_agree_with_the_mask(request, model_name, x):
    model = request.getfixturevalue(model_name)
    s = viz.explorer_state(model, x, mask_ratio=0.75, masking="random", seed=5)
    removed = pixel_mask(s, model)
    assert s.inputs.shape == s.masked.shape == s.recon.shape == s.error.shape == (128, FRAMES)
    np.testing.assert_array_equal(np.isnan(s.masked), removed)
    np.testing.assert_array_equal(s.masked[~removed], s.inputs[~removed])
    assert np.all(s.error[~removed] == 0)  # error is zero on visible tokens
    assert np.all(s.recon[~removed] == s.inputs[~removed])  # visible tokens pass through
    assert s.error[removed].mean() > 0  # an untrained model does not reproduce removed tokens
    np.testing.assert_allclose(s.error[removed], np.abs(s.recon - s.inputs)[removed], rtol=1e-6)


@pytest.mark.parametrize("model_name, grid", [("patch_model", (8, 4)), ("frame_model", (1, 32))])
def test_token_loss_map_is_on_the_token_grid(request, model_name, grid, x):
    model = request.getfixturevalue(model_name)
    s = viz.explorer_state(model, x, mask_ratio=0.5, masking="random", seed=2)
    assert s.grid == grid == model.cfg.grid(FRAMES)
    assert s.token_loss.shape == s.mask.shape == grid
    np.testing.assert_array_equal(np.isnan(s.token_loss), ~s.mask)
    # the per-token map averages to the model's own MSE term
    assert np.nanmean(s.token_loss) == pytest.approx(s.mse, rel=1e-4)
    # and each entry is the MSE of that token's pixels
    err2 = (s.recon - s.inputs) ** 2
    if model.cfg.tokens == "patch":
        per_token = err2.reshape(8, 16, 4, 16).mean(axis=(1, 3))
    else:
        per_token = err2.reshape(128, 32, 2).mean(axis=(0, 2))[None]
    np.testing.assert_allclose(s.token_loss[s.mask], per_token[s.mask], rtol=1e-4, atol=1e-6)


def test_seed_decides_the_mask(patch_model, x):
    a = viz.explorer_state(patch_model, x, mask_ratio=0.75, masking="random", seed=0)
    b = viz.explorer_state(patch_model, x, mask_ratio=0.75, masking="random", seed=0)
    c = viz.explorer_state(patch_model, x, mask_ratio=0.75, masking="random", seed=1)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.recon, b.recon)
    assert not np.array_equal(a.mask, c.mask)
    d = viz.explorer_state(patch_model, x, mask_ratio=0.75, masking="chunk", seed=0)
    expected = patch_model.make_mask(1, FRAMES, generator=torch.Generator().manual_seed(0), mask_ratio=0.75,
                                     masking="chunk")
    np.testing.assert_array_equal(d.mask.ravel(), expected[0].numpy())


def test_bad_widget_values_raise_clear_errors(patch_model, x):
    with pytest.raises(ValueError, match="masking must be one of"):
        viz.explorer_state(patch_model, x, mask_ratio=0.5, masking="block", seed=0)
    with pytest.raises(ValueError, match=r"mask_ratio must be in \[0, 1\)"):
        viz.explorer_state(patch_model, x, mask_ratio=1.0, masking="random", seed=0)
    with pytest.raises(ValueError, match="one sample"):
        viz.explorer_state(patch_model, torch.zeros(2, 1, 128, FRAMES), mask_ratio=0.5, masking="random", seed=0)


def test_plot_explorer_draws_the_state(patch_model, x):
    s = viz.explorer_state(patch_model, x, mask_ratio=0.5, masking="chunk", seed=4)
    fig = viz.plot_explorer(s)
    panels = [ax for ax in fig.axes if ax.images and ax.get_ylabel()]
    assert [ax.get_ylabel() for ax in panels] == ["input", "masked input", "reconstruction", "|error|",
                                                  "loss per token"]
    for ax, arr in zip(panels, (s.inputs, s.masked, s.recon, s.error, s.token_loss)):
        np.testing.assert_array_equal(np.ma.filled(ax.images[0].get_array(), np.nan), arr)
    assert "50%" in fig._suptitle.get_text() and "chunk" in fig._suptitle.get_text()


def test_reconstruct_keeps_its_fields_and_adds_the_mask(patch_model):
    xb = 0.5 * torch.randn(3, 1, 128, FRAMES, generator=torch.Generator().manual_seed(2))
    rec = viz.reconstruct(patch_model, xb, mask_ratio=0.5, seed=0)
    assert rec.mask.shape == rec.token_loss.shape == (3, 32) and rec.mask.dtype == bool
    np.testing.assert_array_equal(np.isnan(rec.token_loss), ~rec.mask)
    assert np.nanmean(rec.token_loss) == pytest.approx(rec.mse, rel=1e-4)
    fig = viz.plot_reconstructions(rec, with_error=True)
    assert len(fig.axes) == 12


def test_mask_ratio_sweep_and_static_figures(patch_model):
    xb = 0.5 * torch.randn(2, 1, 128, FRAMES, generator=torch.Generator().manual_seed(3))
    recs = viz.mask_ratio_sweep(patch_model, xb, [0.25, 0.75], masking="random", seed=0)
    assert list(recs) == [0.25, 0.75]
    assert [r.mask.mean() for r in recs.values()] == [0.25, 0.75]
    grid = viz.plot_mask_ratio_grid(recs)
    assert len(grid.axes) == (1 + 2 * 2) * 2
    loss = viz.plot_token_loss(recs[0.75], grid=patch_model.cfg.grid(FRAMES))
    maps = [ax for ax in loss.axes if ax.images]
    assert len(maps) == 3 and maps[0].images[0].get_array().shape == (8, 4)
    mean_map = np.ma.filled(maps[-1].images[0].get_array(), np.nan)
    per_sample = np.where(recs[0.75].mask, recs[0.75].token_loss, 0.0).reshape(2, 8, 4)
    hits = recs[0.75].mask.reshape(2, 8, 4).sum(axis=0)
    expected = np.where(hits > 0, per_sample.sum(axis=0) / np.maximum(hits, 1), np.nan)
    np.testing.assert_allclose(mean_map, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="at least one"):
        viz.mask_ratio_sweep(patch_model, xb, [])


def sources_from(x):
    """Two cheap in-memory sources: sample i is a seeded random spectrogram."""
    def noise(i):
        return 0.5 * torch.randn(1, 128, FRAMES, generator=torch.Generator().manual_seed(100 + i))
    return {"noise": noise, "ramp": lambda i: x + 0.01 * i}


def test_widget_values_drive_the_state(patch_model, x):
    ex = viz.ReconstructionExplorer(patch_model, sources_from(x), mask_ratio=0.5, seed=0)
    assert set(ex.controls) == {"source", "index", "mask_ratio", "masking", "seed"}  # one checkpoint: no choice
    assert "fixed by the checkpoint" in ex.box.children[0].children[1].value
    assert ex.state.masked_fraction == 0.5 and ex.figure is not None
    assert bytes(ex.image.value).startswith(b"\x89PNG")  # the figure is shown as a PNG image widget
    st = ex.update(index=3, mask_ratio=0.75, masking="chunk", seed=7)
    ref = viz.explorer_state(patch_model, sources_from(x)["noise"](3), mask_ratio=0.75, masking="chunk", seed=7)
    np.testing.assert_array_equal(st.mask, ref.mask)
    np.testing.assert_array_equal(st.recon, ref.recon)
    before = ex.state.mask.copy()
    ex.controls["seed"].value = 8  # a single widget change recomputes too
    assert not np.array_equal(ex.state.mask, before)
    ex.controls["source"].value = "ramp"
    np.testing.assert_array_equal(ex.state.inputs, (x + 0.03).numpy()[0])
    assert "75.0%" in ex.status.value
    with pytest.raises(KeyError, match="valid controls"):
        ex.update(ratio=0.5)


def test_tokens_dropdown_only_with_a_choice(patch_model, frame_model, x):
    ex = viz.ReconstructionExplorer({"patch": patch_model, "frame": frame_model}, sources_from(x), mask_ratio=0.5)
    assert ex.controls["model"].options == ("patch", "frame")
    assert ex.state.grid == (8, 4)
    ex.controls["model"].value = "frame"
    assert ex.state.grid == (1, 32) and ex.state.tokens == "frame"


def test_a_failing_source_is_reported_not_raised(patch_model, x):
    def broken(i):
        raise FileNotFoundError(f"no clip {i}")

    ex = viz.ReconstructionExplorer(patch_model, {**sources_from(x), "broken": broken})
    ex.controls["source"].value = "broken"
    assert ex.state is None and "FileNotFoundError" in ex.status.value and "no clip 0" in ex.status.value
    assert bytes(ex.image.value) == b""
    ex.controls["source"].value = "noise"
    assert ex.state is not None


def test_explorer_rejects_bad_options(patch_model, x):
    with pytest.raises(KeyError, match="Valid sources: noise, ramp"):
        viz.ReconstructionExplorer(patch_model, sources_from(x), source="esc50")
    with pytest.raises(ValueError, match="sources is empty"):
        viz.ReconstructionExplorer(patch_model, {})
    with pytest.raises(ValueError, match="masking must be one of"):
        viz.ReconstructionExplorer(patch_model, sources_from(x), masking="block")
    box = viz.reconstruction_explorer(patch_model, sources_from(x))
    assert len(box.children) == 5


@pytest.fixture
def image_folder(tmp_path):
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for i in range(4):
        img = torch.nn.functional.interpolate(torch.rand(1, 1, 4, 8, generator=g), size=(32, 64), mode="bilinear")
        Image.fromarray((img[0, 0].numpy() * 255).astype("uint8")).save(tmp_path / f"{i}.png")
    return str(tmp_path)


def test_dataset_sampler_is_a_deterministic_heldout_stream(image_folder):
    a = viz.DatasetSampler(image_folder, frames=FRAMES, seed=0)
    b = viz.DatasetSampler(image_folder, frames=FRAMES, seed=0)
    assert a._source is None  # nothing is loaded before the first sample
    x0 = a(0)
    assert x0.shape == (1, 128, FRAMES)
    torch.testing.assert_close(x0, b(0))
    torch.testing.assert_close(a.batch(2)[1], a(1))
    with pytest.raises(ValueError, match=">= 0"):
        a(-1)


def test_explorer_sources_lists_patterns_and_audio_lazily():
    from workbench import patterns

    src = viz.explorer_sources(frames=FRAMES, audio=("synth_sounds",))
    assert set(patterns.names()) <= set(src)
    assert "audio:synth_sounds" in src
    assert all(s._source is None for s in src.values())
    only = viz.explorer_sources(["fractaldb"], frames=FRAMES, audio=())
    assert list(only) == ["fractaldb"]


def test_explorer_sources_puts_the_run_dataset_first(image_folder):
    from workbench import patterns

    src = viz.explorer_sources(frames=FRAMES, audio=(), first="fractaldb")
    assert next(iter(src)) == patterns.get("fractaldb").name and len(src) == len(patterns.names())
    src = viz.explorer_sources(frames=FRAMES, audio=(), first=image_folder)
    assert list(src)[0] == image_folder and len(src) == len(patterns.names()) + 1


def test_save_figure_writes_to_every_given_folder(tmp_path):
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    paths = viz.save_figure(fig, "f.png", tmp_path / "run", "", tmp_path / "figures")
    assert paths == [tmp_path / "run" / "f.png", tmp_path / "figures" / "f.png"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_masked_view_blanks_exactly_the_removed_tokens(patch_model, x):
    mask = patch_model.make_mask(1, FRAMES, generator=torch.Generator().manual_seed(0))
    view = viz.masked_view(patch_model, x[None], mask)
    blank = torch.isnan(patch_model.patchify(view))[0].all(-1)
    assert torch.equal(blank, mask[0]) and not torch.isnan(patch_model.patchify(view))[0][~mask[0]].any()


def test_learning_curves_and_confusion_matrix():
    history = [{"fold": f, "epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5, "test_accuracy": 0.4 + 0.1 * e}
               for f in ("1", "2") for e in (1, 2, 3)]
    fig = viz.plot_learning_curves(history, title="t")
    assert [ax.get_title() for ax in fig.axes[:2]] == ["training loss", "accuracy"]
    assert len(fig.axes[0].lines) == 2  # one line per fold
    fig = viz.plot_confusion_matrix([[3, 1], [0, 4]], ["dog", "rain"])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["dog", "rain"]
    with pytest.raises(ValueError, match="does not match 3 class names"):
        viz.plot_confusion_matrix([[3, 1], [0, 4]], ["a", "b", "c"])
    with pytest.raises(ValueError, match="history is empty"):
        viz.plot_learning_curves([])
