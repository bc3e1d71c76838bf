"""The encoder as a timm VisionTransformer: the same pooled features and token outputs as
MaskedAutoencoder.forward_features, for patch and frame tokens, with and without CLS."""

import pytest
import torch

from workbench import models

timm = pytest.importorskip("timm")
from workbench.timm_vit import to_timm  # noqa: E402  (needs timm)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.one_thread


@pytest.mark.parametrize("tokens", ["patch", "frame"])
@pytest.mark.parametrize("use_cls", [False, True])
def test_timm_vit_gives_the_encoders_features_and_tokens(tokens, use_cls):
    torch.manual_seed(0)
    model = models.build("nano", tokens=tokens, use_cls=use_cls, frames=64).eval()
    x = torch.randn(3, 1, 128, 64)
    for pool in ("mean", "cls") if use_cls else ("mean",):
        vit = to_timm(model, pool=pool)
        assert isinstance(vit, timm.models.vision_transformer.VisionTransformer)
        with torch.no_grad():
            ours, theirs = model.forward_features(x, pool=pool), vit(x)
            our_tokens, their_tokens = model.forward_features(x, pool="none"), vit.forward_features(x)
        assert theirs.shape == (3, 64) and their_tokens.shape == our_tokens.shape
        # measured: 0 (identical) on the CPU. 1e-6 still catches timm's LayerNorm eps (1e-6 instead of our
        # 1e-5), which moves these features by ~3e-6
        assert float((ours - theirs).abs().max()) <= 1e-6
        assert float((our_tokens - their_tokens).abs().max()) <= 1e-6
        assert float(theirs.std(dim=0).min()) > 0  # inputs differ, features differ


def test_positions_are_frozen_sinusoids_and_the_input_width_is_fixed():
    torch.manual_seed(1)
    model = models.build("nano", frames=32)
    vit = to_timm(model)
    assert not vit.pos_embed.requires_grad and vit.pos_embed.shape == (1, 16, 64)  # 8 rows x 2 columns
    assert isinstance(vit.norm, torch.nn.LayerNorm) and vit.norm.eps == 1e-5 and isinstance(vit.fc_norm, torch.nn.Identity)
    wider = to_timm(model, frames=64)
    x = torch.randn(1, 1, 128, 64)
    with torch.no_grad():
        assert torch.allclose(wider(x), model.forward_features(x), atol=1e-5)


def test_a_pretrained_checkpoint_converts(tmp_path):
    from workbench.checkpoint import build_from_checkpoint
    from workbench.train.pretrain import PretrainConfig, pretrain

    pretrain(PretrainConfig(dataset="stat_spectrum", model="nano", frames=32, steps=1, batch_size=2, device="cpu",
                            out_dir=str(tmp_path / "run")), progress=False)
    model = build_from_checkpoint(tmp_path / "run").eval()
    x = torch.randn(2, 1, 128, 32)
    with torch.no_grad():
        assert float((to_timm(model)(x) - model.forward_features(x)).abs().max()) <= 1e-5


def test_bad_options_are_named():
    model = models.build("nano", frames=32)
    with pytest.raises(ValueError, match=r"pool='cls' needs a model built with use_cls=True"):
        to_timm(model, pool="cls")
    with pytest.raises(ValueError, match=r"pool must be one of \('mean', 'cls'\)"):
        to_timm(model, pool="max")
    with pytest.raises(ValueError, match=r"frames=40 is not a multiple of the token width 16"):
        to_timm(model, frames=40)
