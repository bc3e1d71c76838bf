"""The downstream classifier: a pre-trained (or fresh) MAE encoder, pooled, and a head.

``x: [N, 1, 128, T]`` -> :meth:`AudioClassifier.features` ``[N, feature_dim]`` (the encoder on every
token, no masking, pooled: the mean, the per-row statistics over time, or CLS) ->
:meth:`AudioClassifier.classify` -> logits ``[N, C]``.

Two heads, one per evaluation protocol:

* ``head="layernorm"``: LayerNorm + Linear (SSAST's ``mlp_head``), for fine-tuning every layer;
* ``head="standardized"``: a fixed per-feature standardisation (the training split's mean and
  std, set by :meth:`AudioClassifier.set_feature_stats`) + Linear, for the linear probe on
  frozen features.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from workbench.models.mae import MaskedAutoencoder

HEADS = ("layernorm", "standardized")
POOLS = ("mean", "stats", "cls")


class AudioClassifier(nn.Module):
    """Encoder + pooled features + head (see the module docstring). Only the encoder's downstream
    parameters (:meth:`MaskedAutoencoder.encoder_state_dict`) can train; the pre-training decoder
    and heads are frozen and left out of :meth:`classifier_state_dict`."""

    def __init__(self, encoder: MaskedAutoencoder, num_classes: int, *, pool: str = "mean",
                 head: str = "layernorm") -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.encoder = encoder
        self.pool = pool
        self.head_kind = head
        dim = encoder.feature_dim(pool)
        if head == "layernorm":
            self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))
        else:
            self.register_buffer("feature_mean", torch.zeros(dim))
            self.register_buffer("feature_std", torch.ones(dim))
            self.head = nn.Linear(dim, num_classes)
        self._encoder_keys = set(encoder.encoder_state_dict())
        for name, p in encoder.named_parameters():
            p.requires_grad_(name in self._encoder_keys)

    @property
    def num_classes(self) -> int:
        last = self.head[-1] if isinstance(self.head, nn.Sequential) else self.head
        return last.out_features

    def freeze_encoder(self) -> None:
        """Train the head only (the linear probe)."""
        for p in self.encoder.parameters():
            p.requires_grad_(False)

    def set_feature_stats(self, features: torch.Tensor) -> None:
        """Standardise with the mean and std of ``features: [N, feature_dim]`` (``head="standardized"``)."""
        if self.head_kind != "standardized":
            raise ValueError("feature statistics belong to head='standardized'")
        self.feature_mean.copy_(features.mean(0))
        std = features.std(0) if len(features) > 1 else torch.ones(features.shape[1])
        self.feature_std.copy_(std.clamp_min(1e-6))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled encoder outputs ``[N, feature_dim]`` (``encoder.feature_dim(pool)``)."""
        return self.encoder.forward_features(x, pool=self.pool)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, C]`` from pooled features ``[N, feature_dim]``."""
        if self.head_kind == "standardized":
            features = (features - self.feature_mean) / self.feature_std
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))

    def classifier_state_dict(self) -> dict[str, torch.Tensor]:
        """What a trained classifier needs: ``encoder.*`` (encoder only), ``head.*`` and, for the
        standardized head, ``feature_mean`` / ``feature_std``."""
        return {k: v for k, v in self.state_dict().items()
                if not k.startswith("encoder.") or k[len("encoder."):] in self._encoder_keys}


__all__ = ["AudioClassifier", "HEADS", "POOLS"]
