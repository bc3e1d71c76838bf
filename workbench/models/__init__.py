"""Model presets, registered by name.

>>> from workbench import models
>>> m = models.build("tiny", tokens="frame", masking="random", joint=True)
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Callable

import torch

from workbench.models.mae import MAEConfig, MAEOutput, MaskedAutoencoder

__all__ = ["MAEConfig", "MAEOutput", "MaskedAutoencoder", "build", "build_from_checkpoint", "config",
           "names", "register_model"]

_PRESETS: dict[str, Callable[[], MAEConfig]] = {}


def register_model(name: str) -> Callable[[Callable[[], MAEConfig]], Callable[[], MAEConfig]]:
    """Register a factory returning the :class:`MAEConfig` of a preset."""

    def deco(fn: Callable[[], MAEConfig]) -> Callable[[], MAEConfig]:
        if name in _PRESETS:
            raise ValueError(f"model preset {name!r} is registered twice")
        _PRESETS[name] = fn
        return fn

    return deco


@register_model("nano")
def _nano() -> MAEConfig:
    """Seconds-fast model for tests and the teaching notebook."""
    return MAEConfig(enc_dim=64, enc_depth=2, enc_heads=2, dec_dim=64, dec_depth=1, dec_heads=2)


@register_model("tiny")
def _tiny() -> MAEConfig:
    """ViT-Ti encoder, small decoder: the CPU-friendly size every CPU benchmark uses."""
    return MAEConfig(enc_dim=192, enc_depth=12, enc_heads=3, dec_dim=128, dec_depth=2, dec_heads=4)


@register_model("small")
def _small() -> MAEConfig:
    """ViT-S encoder, 2-layer decoder of the same width (MAE-AST's decoder shape)."""
    return MAEConfig(enc_dim=384, enc_depth=12, enc_heads=6, dec_dim=384, dec_depth=2, dec_heads=6)


@register_model("base")
def _base() -> MAEConfig:
    """ViT-B/16 encoder and MAE-AST's 2-layer, 768-wide decoder."""
    return MAEConfig(enc_dim=768, enc_depth=12, enc_heads=12, dec_dim=768, dec_depth=2, dec_heads=12)


def names() -> list[str]:
    return list(_PRESETS)


def config(name: str, **overrides) -> MAEConfig:
    """The preset's config with ``overrides`` applied (unknown keys and bad types are rejected)."""
    if name not in _PRESETS:
        close = difflib.get_close_matches(name, names(), n=2)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown model {name!r}.{hint} Valid models: {', '.join(names())}")
    base = _PRESETS[name]().to_dict()
    unknown = sorted(set(overrides) - set(base))
    if unknown:
        raise ValueError(f"unknown model options {unknown}; valid options: {sorted(base)}")
    return MAEConfig.from_dict({**base, **overrides})


def build(name: str, **overrides) -> MaskedAutoencoder:
    """Build preset ``name`` (see :func:`names`) with config ``overrides``."""
    return MaskedAutoencoder(config(name, **overrides))


def build_from_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu",
                          **overrides) -> MaskedAutoencoder:
    """Rebuild the model saved in a pre-training checkpoint (``checkpoint.pt`` or its run folder)
    and load its weights. ``overrides`` change non-architectural options such as ``mask_ratio``."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    ckpt = torch.load(path, map_location=map_location, weights_only=False)
    if "model" not in ckpt or "model_config" not in ckpt:
        raise ValueError(f"{path} is not a workbench pre-training checkpoint (keys: {sorted(ckpt)})")
    cfg = MAEConfig.from_dict({**ckpt["model_config"], **overrides})
    model = MaskedAutoencoder(cfg)
    model.load_state_dict(ckpt["model"])
    return model
