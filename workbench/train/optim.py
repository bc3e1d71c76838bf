"""Optimiser parameter groups and learning-rate schedules shared by pre-training and fine-tuning."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from workbench.models.classifier import AudioClassifier


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on biases, norms and learned tokens (MAE's convention)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def layer_decay_groups(clf: AudioClassifier, *, lr: float, weight_decay: float, layer_decay: float) -> list[dict]:
    """AdamW parameter groups with layer-wise lr decay (BEiT/MAE): layer id 0 for the embedding
    and CLS token, ``i + 1`` for block ``i``, ``L + 1`` for the final norm and the head; scale
    ``layer_decay ** (L + 1 - id)``. No weight decay on biases, norms and tokens."""
    depth = len(clf.encoder.blocks)
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in clf.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("encoder.blocks."):
            layer = int(name.split(".")[2]) + 1
        elif name.startswith(("encoder.patch_embed", "encoder.cls_token")):
            layer = 0
        else:
            layer = depth + 1
        no_decay = p.ndim < 2
        g = groups.setdefault((layer, no_decay), {
            "params": [], "weight_decay": 0.0 if no_decay else weight_decay,
            "lr": lr * layer_decay ** (depth + 1 - layer), "layer": layer})
        g["params"].append(p)
    return list(groups.values())


def warmup_cosine(step: int, *, total: int, warmup: int, min_ratio: float) -> float:
    """LR multiplier: linear from ~0 to 1 over ``warmup`` steps, then cosine down to ``min_ratio``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def warmup_cosine_schedule(opt: torch.optim.Optimizer, *, total: int, warmup: int,
                           min_ratio: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step scheduler for :func:`warmup_cosine` (each group keeps its own peak lr)."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, total=total, warmup=warmup, min_ratio=min_ratio))


def set_peak_lr(opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LambdaLR, lr: float) -> None:
    """Re-base a (resumed) schedule on peak ``lr``, keeping its position."""
    sched.base_lrs = [lr] * len(opt.param_groups)
    for group, lmbda in zip(opt.param_groups, sched.lr_lambdas):
        group["initial_lr"] = lr
        group["lr"] = lr * lmbda(sched.last_epoch)


__all__ = ["layer_decay_groups", "param_groups", "set_peak_lr", "warmup_cosine", "warmup_cosine_schedule"]
