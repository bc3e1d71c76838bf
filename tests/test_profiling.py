"""FLOPs by formula and by count, activation memory, and the round-robin timer."""

import math

import pytest
import torch

from workbench import models
from workbench.models.masking import num_masked
from workbench.profiling import activation_bytes, block_flops, count_flops, fastest_seconds, model_flops


def test_flop_count_includes_attention_on_the_cpu():
    # Fused SDPA (ours) and explicit q @ k^T (a reference implementation) must be counted alike.
    q = torch.randn(2, 3, 64, 16, requires_grad=True)

    def fused(x):
        torch.nn.functional.scaled_dot_product_attention(x, x, x).sum().backward()

    def explicit(x):
        ((x @ x.transpose(-2, -1) * 16 ** -0.5).softmax(-1) @ x).sum().backward()

    fwd = 2 * (2 * 2 * 3 * 64 * 64 * 16)  # two products of 2 * 64 * 64 * 16 FLOPs for each of 2 x 3 heads
    assert count_flops(explicit, q) == 3 * fwd  # forward, then two products per forward product
    assert count_flops(fused, q) == 3 * fwd


def test_block_formula_matches_the_counted_forward_of_one_block():
    from workbench.models.mae import Block

    block = Block(64, 4, 4.0)
    x = torch.randn(1, 32, 64)
    counted = count_flops(lambda t: block(t), x)
    assert counted == pytest.approx(block_flops(32, 64, 4.0), rel=1e-9)


def test_model_formula_charges_the_mae_encoder_only_for_visible_tokens():
    cfg = models.config("tiny", frames=1024)
    n = math.prod(cfg.grid(1024))
    visible = n - num_masked(n, cfg.mask_ratio)
    mae = model_flops(cfg, n, visible)
    joint = model_flops(models.config("tiny", frames=1024, joint=True), n, visible)
    assert mae == cfg.enc_depth * block_flops(visible, 192, 4.0) + cfg.dec_depth * block_flops(n, 128, 4.0)
    assert joint == cfg.enc_depth * block_flops(n, 192, 4.0) and joint > 3 * mae


def test_activation_bytes_see_what_backward_keeps_and_grow_with_tokens():
    model = models.build("nano", frames=64)
    x = torch.randn(2, 1, 128, 64)
    small = activation_bytes(lambda: model(x[:1], generator=torch.Generator().manual_seed(0)).loss, model)
    large = activation_bytes(lambda: model(x, generator=torch.Generator().manual_seed(0)).loss, model)
    assert 0 < small < large


def test_fastest_seconds_takes_turns_and_skips_warmup():
    calls = []
    times = fastest_seconds({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4 and [len(v) for v in times.values()] == [3, 3]
    assert all(t >= 0 for v in times.values() for t in v)
    with pytest.raises(ValueError, match="repeats"):
        fastest_seconds({"a": lambda: None}, repeats=0)
