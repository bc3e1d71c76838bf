"""The encoder of a :class:`~workbench.models.mae.MaskedAutoencoder` as a timm
``VisionTransformer``, for code that expects timm models (``pip install timm``).

>>> from workbench.checkpoint import build_from_checkpoint
>>> from workbench.timm_vit import to_timm
>>> vit = to_timm(build_from_checkpoint("runs/fdb"))
>>> vit(x)                     # x: [N, 1, 128, frames] -> [N, enc_dim], = forward_features(x, "mean")
>>> vit.forward_features(x)    # [N, (1 +) L, enc_dim], = forward_features(x, "none")

How the pieces map (each checked by ``tests/test_timm.py`` to float rounding):

* our ``patch_embed`` is a Linear on the flattened token values (:meth:`MaskedAutoencoder.patchify`:
  frequency-major inside a token, tokens row-major over the ``(n_mels / p, T / p)`` grid); timm's
  is a Conv2d with kernel = stride = the token's shape, whose output is flattened the same way. So
  the conv kernel is the Linear weight reshaped to ``[D, 1, p, p]`` (patch tokens) or
  ``[D, 1, n_mels, frame_width]`` (frame tokens).
* positions: our fixed 1-D sinusoids (``sincos_1d``) over the token sequence become timm's
  ``pos_embed`` ``[1, L, D]``, frozen (``requires_grad=False``), with ``no_embed_class=True`` so a
  CLS token gets no position, as ours. timm's position table has a fixed length, so the ViT takes
  inputs of exactly ``frames`` columns (``img_size = (n_mels, frames)``).
* blocks: the same pre-norm block (``norm1, attn.qkv, attn.proj, norm2, mlp``; our ``mlp.0`` and
  ``mlp.2`` are timm's ``mlp.fc1`` and ``mlp.fc2``), exact GELU, biases on qkv and proj, our
  LayerNorm eps (1e-5, where timm's ViT default is 1e-6).
* pooling: ours is the final norm on every token, then the mean over the non-CLS tokens (or the
  CLS output). timm does that with ``global_pool="avg"`` (or ``"token"``) and ``fc_norm=False``
  (otherwise "avg" moves the norm after the pool). ``num_classes=0``: no head.
"""

from __future__ import annotations

import functools

import torch
import torch.nn as nn
from timm.models.vision_transformer import VisionTransformer

from workbench.models.mae import MaskedAutoencoder, sincos_1d

POOLS = {"mean": "avg", "cls": "token"}


def to_timm(model: MaskedAutoencoder, *, pool: str = "mean", frames: int | None = None) -> VisionTransformer:
    """A timm ``VisionTransformer`` computing what ``model``'s encoder computes on inputs
    ``[N, 1, n_mels, frames]`` (default: the model's ``frames``): pooled features from ``vit(x)``
    (``pool="mean"`` or ``"cls"``, which needs ``use_cls``) and token outputs from
    ``vit.forward_features(x)``. The weights are copies, on ``model``'s device and dtype."""
    cfg = model.cfg
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {tuple(POOLS)}, got {pool!r}")
    if pool == "cls" and not cfg.use_cls:
        raise ValueError("pool='cls' needs a model built with use_cls=True")
    frames = frames or cfg.frames
    if frames % cfg.token_width:
        raise ValueError(f"frames={frames} is not a multiple of the token width {cfg.token_width} ({cfg.tokens} tokens)")
    kernel = (cfg.patch_size, cfg.patch_size) if cfg.tokens == "patch" else (cfg.n_mels, cfg.frame_width)
    ref = model.patch_embed.weight
    vit = VisionTransformer(
        img_size=(cfg.n_mels, frames), patch_size=kernel, in_chans=1, num_classes=0, global_pool=POOLS[pool],
        fc_norm=False, embed_dim=cfg.enc_dim, depth=cfg.enc_depth, num_heads=cfg.enc_heads, mlp_ratio=cfg.mlp_ratio,
        qkv_bias=True, class_token=cfg.use_cls, no_embed_class=True, pos_embed="learn",
        norm_layer=functools.partial(nn.LayerNorm, eps=model.norm.eps), act_layer=nn.GELU, weight_init="skip",
        device=ref.device, dtype=ref.dtype)
    vit.load_state_dict(timm_state_dict(model, frames=frames), strict=True)
    vit.pos_embed.requires_grad_(False)  # the workbench's positions are fixed sinusoids
    return vit.eval()


def timm_state_dict(model: MaskedAutoencoder, *, frames: int | None = None) -> dict[str, torch.Tensor]:
    """The encoder's weights under timm ``VisionTransformer`` names (see the module docstring)."""
    cfg = model.cfg
    frames = frames or cfg.frames
    rows, cols = cfg.grid(frames)
    kernel = (cfg.patch_size, cfg.patch_size) if cfg.tokens == "patch" else (cfg.n_mels, cfg.frame_width)
    w = model.patch_embed.weight.detach()
    out = {"patch_embed.proj.weight": w.reshape(cfg.enc_dim, 1, *kernel).clone(),
           "patch_embed.proj.bias": model.patch_embed.bias.detach().clone(),
           "pos_embed": sincos_1d(rows * cols, cfg.enc_dim, w.device).to(w.dtype)[None],
           "norm.weight": model.norm.weight.detach().clone(), "norm.bias": model.norm.bias.detach().clone()}
    if model.cls_token is not None:
        out["cls_token"] = model.cls_token.detach().reshape(1, 1, -1).clone()
    renamed = {"mlp.0.": "mlp.fc1.", "mlp.2.": "mlp.fc2."}
    for name, value in model.blocks.state_dict().items():
        block, rest = name.split(".", 1)
        for ours, theirs in renamed.items():
            if rest.startswith(ours):
                rest = theirs + rest[len(ours):]
        out[f"blocks.{block}.{rest}"] = value.detach().clone()
    return out


__all__ = ["POOLS", "timm_state_dict", "to_timm"]
