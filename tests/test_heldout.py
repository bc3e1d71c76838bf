"""The held-out MSE of a model beside the trivial predictors, with known answers."""

import pytest
import torch

from workbench import models, viz
from workbench.train.heldout import heldout_mse, predict_heldout


def test_trivial_predictors_have_their_closed_form_errors():
    model = models.build("nano", frames=32)
    torch.manual_seed(0)
    x = torch.randn(3, 1, 128, 32) * 0.5 + torch.tensor([1.0, -2.0, 0.5])[:, None, None, None]
    held = predict_heldout(model, x, seed=1)
    removed, visible = held.removed, ~held.removed
    assert torch.equal(held.images["zero"][visible], x[visible])  # visible pixels are the input's
    mse = held.mse()
    assert mse["zero"] == pytest.approx(float((x ** 2)[removed].mean()), rel=1e-6)
    means = torch.stack([x[i][visible[i]].mean() for i in range(3)])
    expected = torch.cat([(x[i][removed[i]] - means[i]) ** 2 for i in range(3)]).mean()
    assert mse["visible_mean"] == pytest.approx(float(expected), rel=1e-5)
    assert mse["ratio"] == pytest.approx(mse["model"] / mse["visible_mean"])


def test_an_image_of_one_value_is_exactly_its_visible_mean():
    model = models.build("nano", frames=32)
    x = torch.full((2, 1, 128, 32), 0.7)
    mse = heldout_mse(model, x, seed=0)
    assert mse["visible_mean"] == pytest.approx(0.0, abs=1e-12) and mse["zero"] == pytest.approx(0.49)


def test_reconstruction_figure_shows_the_baselines_beside_the_model():
    model = models.build("nano", frames=32)
    rec = viz.reconstruct(model, torch.randn(2, 1, 128, 32), seed=0)
    assert set(rec.baselines) == {"zero", "visible_mean"} and set(rec.baseline_mse) >= {"model", "zero", "visible_mean"}
    fig = viz.plot_reconstructions(rec, with_baselines=True)
    titles = [ax.get_title() for ax in fig.axes[:5]]
    assert titles[2].startswith("reconstruction\nMSE") and titles[3].startswith("predict the mean (0)\nMSE")
    assert rec.baseline_mse["model"] == pytest.approx(rec.mse, rel=1e-4)  # the model's own MSE term
