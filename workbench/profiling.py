"""What a model step costs: FLOPs (by formula and counted), activation memory, step time.

Shared by the teaching notebook (why MAE-AST's encoder skips the masked tokens) and
``benchmarks/pretrain_step.py``. Nothing here asserts a speed: benchmarks print tables.
"""

from __future__ import annotations

import time
from typing import Callable, Mapping

import torch
import torch.nn as nn


def block_flops(n_tokens: int, width: int, mlp_ratio: float) -> float:
    """Forward FLOPs (2 per multiply-add) of one transformer block on ``n_tokens`` tokens: the
    linear layers ``(4 + 2 r) L D^2`` and attention's two products ``2 L^2 D`` multiply-adds."""
    return 2 * ((4 + 2 * mlp_ratio) * n_tokens * width ** 2 + 2 * n_tokens ** 2 * width)


def model_flops(cfg, n_tokens: int, n_visible: int) -> float:
    """Forward FLOPs of the encoder and decoder blocks of an :class:`~workbench.models.MAEConfig`:
    the MAE encodes only the ``n_visible`` tokens, the joint model all ``n_tokens``; the MAE's
    decoder sees all of them."""
    enc = cfg.enc_depth * block_flops(n_tokens if cfg.joint else n_visible, cfg.enc_dim, cfg.mlp_ratio)
    dec = 0 if cfg.joint else cfg.dec_depth * block_flops(n_tokens, cfg.dec_dim, cfg.mlp_ratio)
    return enc + dec


def activation_bytes(loss_fn: Callable[[], torch.Tensor], model: nn.Module) -> int:
    """Bytes autograd saves for the backward pass of ``loss_fn()`` (each storage once), the
    parameters of ``model`` excluded; runs the backward too."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            saved[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_fn().backward()
    return sum(saved.values())


def fastest_seconds(steps: Mapping[str, Callable[[], object]], *, repeats: int, warmup: int = 1,
                    sync: Callable[[], None] | None = None) -> dict[str, list[float]]:
    """Time each of ``steps`` ``repeats`` times after ``warmup`` untimed calls; the steps take
    turns within a round, so background load hits them alike. Returns every time per step
    (report the minimum for the least disturbed time, or the median)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    times: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(warmup + repeats):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            if sync is not None:
                sync()
            if r >= warmup:
                times[name].append(time.perf_counter() - t0)
    return times


def attention_flop_mapping() -> dict:
    """FLOP formulas for the fused attention kernels, by model FLOPs (what an explicit
    ``softmax(q @ k^T) @ v`` does: forward 2 products, backward 4), for ``FlopCounterMode``.

    torch's own table leaves out the CPU flash kernel that ``F.scaled_dot_product_attention`` runs
    on the CPU (a CPU count would miss attention while an explicit ``q @ k^T`` is counted), and
    charges the fused backward for recomputing ``q @ k^T``, which MFU leaves out as it leaves out
    activation checkpointing.
    """
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten

    def fwd(query, key, value, *args, out_shape=None, **kwargs) -> int:
        return sdpa_flop_count(query, key, value)

    def bwd(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
        b, h, s_q, d = query
        recompute = 2 * b * h * s_q * key[2] * d
        return sdpa_backward_flop_count(grad_out, query, key, value) - recompute

    mapping = {aten._scaled_dot_product_flash_attention_for_cpu: fwd,
               aten._scaled_dot_product_flash_attention_for_cpu_backward: bwd}
    for name in ("flash", "efficient", "cudnn"):
        mapping[getattr(aten, f"_scaled_dot_product_{name}_attention_backward")] = bwd
    return mapping


def count_flops(step: Callable[..., object], *args) -> int:
    """Model FLOPs (matrix products and attention, fused or explicit alike) of ``step(*args)``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping=attention_flop_mapping())
    with counter:
        step(*args)
    return counter.get_total_flops()


__all__ = ["activation_bytes", "attention_flop_mapping", "block_flops", "count_flops", "fastest_seconds",
           "model_flops"]
