import pytest
import torch

from workbench import models
from workbench.models.masking import chunk_mask, num_masked, random_mask

PRESETS = models.names()


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("tokens", ["patch", "frame"])
@pytest.mark.parametrize("masking", ["random", "chunk"])
@pytest.mark.parametrize("joint", [False, True])
def test_every_preset_shapes(name, tokens, masking, joint):
    # Presets keep their widths; depth is cut to 1 so the big ones stay CPU-fast here.
    m = models.build(name, tokens=tokens, masking=masking, joint=joint, enc_depth=1, dec_depth=1, frames=64)
    x = torch.randn(2, 1, 128, 64)
    out = m(x, generator=torch.Generator().manual_seed(0))
    length = 8 * 4 if tokens == "patch" else 32
    assert out.pred.shape == (2, length, 256)
    assert out.target.shape == (2, length, 256)
    assert out.mask.shape == (2, length) and out.mask.dtype == torch.bool
    assert (out.mask.sum(1) == num_masked(length, 0.75)).all()
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert m.unpatchify(out.pred).shape == x.shape
    assert m.forward_features(x).shape == (2, m.cfg.enc_dim)


@pytest.mark.parametrize("tokens", ["patch", "frame"])
def test_patchify_roundtrip(tokens):
    m = models.build("nano", tokens=tokens)
    x = torch.randn(3, 1, 128, 96)
    assert torch.equal(m.unpatchify(m.patchify(x), 96), x)


def test_patch_tokens_are_16x16_squares():
    m = models.build("nano")
    x = torch.zeros(1, 1, 128, 32)
    x[0, 0, 16:32, 16:32] = 1.0  # the patch at grid row 1, column 1
    tokens = m.patchify(x)
    assert tokens.shape == (1, 16, 256)
    assert tokens[0, 1 * 2 + 1].eq(1).all() and tokens.sum() == 256


def test_encoder_sees_only_visible_tokens():
    m = models.build("nano", frames=64)
    x = torch.randn(2, 1, 128, 64)
    mask = m.make_mask(2, 64, generator=torch.Generator().manual_seed(0))
    latent = m.forward_encoder(x, mask)
    assert latent.shape == (2, 32 - num_masked(32, 0.75), 64)
    joint = models.build("nano", frames=64, joint=True)
    assert joint.forward_encoder(x, mask).shape == (2, 32, 64)


def test_masked_tokens_do_not_leak_into_mae_encoder():
    m = models.build("nano", frames=64).eval()
    x = torch.randn(1, 1, 128, 64)
    mask = m.make_mask(1, 64, generator=torch.Generator().manual_seed(1))
    y = x.clone()
    pix = m.unpatchify(mask[..., None].float().expand(-1, -1, 256), 64).bool()
    y[pix] = 100.0  # change only masked content
    assert torch.allclose(m.forward_encoder(x, mask), m.forward_encoder(y, mask))


def test_joint_and_mae_share_the_loss_definition():
    mae = models.build("nano", frames=64)
    joint = models.build("nano", frames=64, joint=True)
    target = torch.randn(2, 32, 256)
    recon, cls = torch.randn(2, 32, 256), torch.randn(2, 32, 256)
    mask = random_mask(2, 32, 0.75, generator=torch.Generator().manual_seed(0))
    a = mae.forward_loss(target, recon, cls, mask)
    b = joint.forward_loss(target, recon, cls, mask)
    for u, v in zip(a, b):
        assert torch.equal(u, v)
    expected_mse = ((recon - target) ** 2).mean(-1)[mask].mean()
    assert torch.allclose(a[1], expected_mse)
    assert torch.allclose(a[0], 10 * a[1] + a[2])


def test_loss_ignores_visible_tokens():
    m = models.build("nano", frames=64, infonce_weight=0.0)
    target = torch.zeros(1, 32, 256)
    recon = torch.zeros(1, 32, 256)
    mask = random_mask(1, 32, 0.5, generator=torch.Generator().manual_seed(0))
    recon[~mask] = 5.0  # wrong only where visible
    assert m.forward_loss(target, recon, recon, mask)[0] == 0


def test_norm_pix_loss_normalises_targets():
    m = models.build("nano", norm_pix_loss=True, frames=32)
    t = m.target_tokens(torch.rand(2, 1, 128, 32) * 5 + 3)
    assert torch.allclose(t.mean(-1), torch.zeros(2, 16), atol=1e-4)


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.75, 0.9])
def test_random_mask_exact_count(ratio):
    mask = random_mask(5, 100, ratio, generator=torch.Generator().manual_seed(0))
    assert (mask.sum(1) == num_masked(100, ratio)).all()


@pytest.mark.parametrize("ratio", [0.4, 0.75])
def test_chunk_mask_exact_count_and_clustered(ratio):
    g = torch.Generator().manual_seed(0)
    mask = chunk_mask(6, (8, 64), ratio, generator=g)
    assert (mask.sum(1) == num_masked(512, ratio)).all()
    rnd = random_mask(6, 512, ratio, generator=g)

    def boundaries(m):  # masked/visible changes between neighbours: chunks leave far fewer
        grid = m.view(-1, 8, 64)
        return ((grid[..., 1:] != grid[..., :-1]).sum() + (grid[:, 1:] != grid[:, :-1]).sum()).item()

    assert boundaries(mask) < 0.75 * boundaries(rnd)


def test_chunk_mask_per_batch_repeats():
    mask = chunk_mask(4, (8, 64), 0.75, generator=torch.Generator().manual_seed(0), per_batch=True)
    assert all(torch.equal(mask[0], mask[i]) for i in range(4))


def test_masks_are_seeded():
    a = chunk_mask(2, (8, 16), 0.75, generator=torch.Generator().manual_seed(3))
    b = chunk_mask(2, (8, 16), 0.75, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_unknown_model_lists_valid_names():
    with pytest.raises(KeyError, match="Valid models: nano, tiny, small, base"):
        models.build("tinyy")


def test_bad_options_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown model options"):
        models.build("tiny", depth=3)
    with pytest.raises(ValueError, match="tokens must be one of"):
        models.build("tiny", tokens="pixel")
    with pytest.raises(ValueError, match="mask_ratio"):
        models.build("tiny", mask_ratio=1.0)
    with pytest.raises(TypeError, match="enc_depth must be int"):
        models.build("tiny", enc_depth="6")


def test_wrong_input_shape_is_named():
    m = models.build("nano")
    with pytest.raises(ValueError, match=r"expected input \[N, 1, 128, T\]"):
        m(torch.randn(2, 128, 64))
    with pytest.raises(ValueError, match="not a positive multiple of the token width 16"):
        m(torch.randn(2, 1, 128, 40))


def test_cls_pooling():
    m = models.build("nano", use_cls=True, frames=32)
    x = torch.randn(2, 1, 128, 32)
    assert m.forward_features(x, pool="cls").shape == (2, 64)
    assert m.forward_features(x, pool="none").shape == (2, 17, 64)
    with pytest.raises(ValueError, match="use_cls=True"):
        models.build("nano").forward_features(x, pool="cls")


def test_any_input_length_after_training_length():
    m = models.build("nano", frames=1024)
    assert m.forward_features(torch.randn(1, 1, 128, 96)).shape == (1, 64)


def test_gradient_checkpointing_matches():
    torch.manual_seed(0)
    a = models.build("nano", frames=32)
    b = models.build("nano", frames=32, grad_checkpointing=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 1, 128, 32)
    mask = a.make_mask(2, 32, generator=torch.Generator().manual_seed(0))
    la, lb = a(x, mask).loss, b(x, mask).loss
    la.backward()
    lb.backward()
    assert torch.allclose(la, lb)
    assert torch.allclose(a.blocks[0].attn.qkv.weight.grad, b.blocks[0].attn.qkv.weight.grad, atol=1e-6)


def test_mask_with_unequal_counts_is_rejected_by_name():
    m = models.build("nano", frames=64)
    mask = torch.zeros(2, m.cfg.grid(64)[0] * m.cfg.grid(64)[1], dtype=torch.bool)
    mask[0, :3] = True
    mask[1, :5] = True
    with pytest.raises(ValueError, match="same number of tokens"):
        m(torch.randn(2, 1, 128, 64), mask)


@pytest.mark.parametrize("kw", [{}, {"joint": True}, {"tokens": "frame", "use_cls": True}])
def test_forward_traces_as_one_graph_after_masking(kw):
    """torch.compile sees the whole model as one graph: the only break is drawing the mask with a
    CPU generator; no data-dependent shapes or host syncs inside (they would break the graph)."""
    import torch._dynamo

    m = models.build("nano", frames=64, **kw)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(m)(torch.randn(2, 1, 128, 64), generator=torch.Generator().manual_seed(0))
    assert explained.graph_break_count <= 1
    assert max(len(g.graph.nodes) for g in explained.graphs) > 50  # the model itself, not fragments


@pytest.mark.gpu
def test_compiled_bf16_loss_matches_eager_on_cuda():
    m = models.build("nano", frames=64).cuda()
    x = torch.randn(4, 1, 128, 64, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        eager = m(x, generator=torch.Generator().manual_seed(0)).loss
        compiled = torch.compile(m)(x, generator=torch.Generator().manual_seed(0)).loss
    assert torch.isfinite(compiled) and abs(float(compiled) - float(eager)) < 0.05 * abs(float(eager))


@pytest.mark.parametrize("opts", [
    {}, {"joint": True}, {"use_cls": True}, {"joint": True, "use_cls": True}, {"dec_depth": 0},
    {"tokens": "frame", "grad_checkpointing": True}, {"norm_pix_loss": True, "masking": "chunk"},
])
def test_forward_computes_only_what_the_loss_reads(opts):
    # forward() skips the visible tokens in the last block, the heads and (MAE) the patch embedding;
    # the loss and every gradient must equal the all-position path's.
    torch.manual_seed(0)
    m = models.build("nano", frames=64, enc_depth=2, dec_depth=opts.pop("dec_depth", 2), **opts).train()
    x = torch.randn(3, 1, 128, 64)
    mask = m.make_mask(3, 64, generator=torch.Generator().manual_seed(3))
    fast = m(x, mask)
    grads_fast = torch.autograd.grad(fast.loss, list(m.parameters()), allow_unused=True)
    recon, cls = m.forward_decoder(m.forward_encoder(x, mask), mask)
    full = m.forward_loss(m.target_tokens(x), recon, cls, mask)
    grads_full = torch.autograd.grad(full[0], list(m.parameters()), allow_unused=True)
    for a, b in zip((fast.loss, fast.mse, fast.infonce), full):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    for (name, _), a, b in zip(m.named_parameters(), grads_fast, grads_full):
        assert (a is None) == (b is None) or (a is None and not b.any()), name
        if a is not None:
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), name
    # pred: the predictions where tokens were removed, the target where they were kept
    assert torch.allclose(fast.pred[mask], recon[mask], rtol=1e-5, atol=1e-6)
    assert torch.equal(fast.pred[~mask], fast.target[~mask])


def test_forward_skips_the_infonce_head_when_its_weight_is_zero():
    m = models.build("nano", frames=64, infonce_weight=0.0)
    out = m(torch.randn(2, 1, 128, 64), generator=torch.Generator().manual_seed(0))
    out.loss.backward()
    assert m.head_infonce.weight.grad is None and m.head_recon.weight.grad is not None
    assert out.infonce == 0
