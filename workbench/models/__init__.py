"""Model presets, registered by name.

>>> from workbench import models
>>> m = models.build("tiny", tokens="frame", masking="random", joint=True)

Loading a model from a run folder or checkpoint file is :func:`workbench.checkpoint.build_from_checkpoint`
(``models/`` does no file I/O).
"""

from __future__ import annotations

from typing import Callable

from workbench.models.classifier import AudioClassifier
from workbench.models.mae import MAEConfig, MAEOutput, MaskedAutoencoder
from workbench.registry import Registry

__all__ = ["AudioClassifier", "MAEConfig", "MAEOutput", "MaskedAutoencoder", "build", "config", "names",
           "register_model"]

PRESETS: Registry[Callable[[], MAEConfig]] = Registry("model")


def register_model(name: str) -> Callable[[Callable[[], MAEConfig]], Callable[[], MAEConfig]]:
    """Register a factory returning the :class:`MAEConfig` of a preset."""

    def deco(fn: Callable[[], MAEConfig]) -> Callable[[], MAEConfig]:
        return PRESETS.add(name, fn)

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
    return PRESETS.names()


def config(name: str, **overrides) -> MAEConfig:
    """The preset's config with ``overrides`` applied (unknown keys and bad types are rejected)."""
    base = PRESETS.get(name)().to_dict()
    unknown = sorted(set(overrides) - set(base))
    if unknown:
        raise ValueError(f"unknown model options {unknown}; valid options: {sorted(base)}")
    return MAEConfig.from_dict({**base, **overrides})


def build(name: str, **overrides) -> MaskedAutoencoder:
    """Build preset ``name`` (see :func:`names`) with config ``overrides``."""
    return MaskedAutoencoder(config(name, **overrides))
