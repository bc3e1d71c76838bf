"""Checkpoints: where a run keeps them, how they are written and read, and the models they rebuild.

A pre-training run folder holds ``checkpoint.pt``: ``model`` (state dict), ``model_config``,
``config`` (the run's :class:`~workbench.train.pretrain.PretrainConfig` as a dict), ``optimizer``,
``scheduler``, ``rng``, ``step``, ``shards_done``, ``history``, ``norm_stats``, ``world_size``.
Every value is a tensor or a plain Python value, so files load with
``torch.load(weights_only=True)``: reading a checkpoint never runs code from it, and a file
that would need to (a pickle with objects in it) is refused with its path named.

:func:`resolve` accepts a run folder or a file; :func:`load` reads and checks the keys;
:func:`save` writes atomically; :func:`build_from_checkpoint` rebuilds the pre-trained model and
:func:`load_encoder` the encoder a downstream evaluation starts from.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Iterable

import torch

from workbench import models
from workbench.files import atomic_torch_save
from workbench.models.mae import MAEConfig, MaskedAutoencoder

CHECKPOINT = "checkpoint.pt"
PRETRAIN_KEYS = ("model", "model_config")
_RENAMED = {"head_cls": "head_infonce"}  # parameter names of earlier versions -> today's


class CheckpointError(ValueError):
    """A file is not a usable checkpoint; the message names the file and what was expected."""


def resolve(path: str | Path) -> Path:
    """The checkpoint file of a run folder (``RUN/checkpoint.pt``) or the file itself."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: pass a pre-training run folder (holding {CHECKPOINT}) "
                                "or a checkpoint file")
    return path


def load(path: str | Path, *, map_location: str | torch.device = "cpu",
         required: Iterable[str] = PRETRAIN_KEYS) -> dict[str, Any]:
    """Read a checkpoint weights-only (no code from the file runs) and check that it holds the
    ``required`` keys. Errors name the file: missing, empty, truncated, not a checkpoint, or
    holding pickled objects."""
    path = resolve(path)
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes); expected a workbench checkpoint written by torch.save")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"refused to load {path}: it holds pickled Python objects, not only tensors and plain values, and "
            f"loading it could run code from the file ({str(exc).splitlines()[0]}). Load only checkpoints you "
            "trust, and re-save their tensors with torch.save.") from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, KeyError, ... for damaged files
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or not written by torch.save): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    required = tuple(required)
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in required):
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path} is not a workbench pre-training checkpoint (expected keys "
                              f"{', '.join(map(repr, required))}; found {found})")
    if isinstance(ckpt.get("model"), dict):
        ckpt["model"] = {_RENAMED.get(k.split(".")[0], k.split(".")[0]) + k[len(k.split(".")[0]):]: v
                         for k, v in ckpt["model"].items()}
    return ckpt


def save(obj: dict[str, Any], path: str | Path) -> None:
    """Write a checkpoint atomically (a reader never sees half a file)."""
    atomic_torch_save(obj, Path(path))


def build_from_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu",
                          **overrides) -> MaskedAutoencoder:
    """Rebuild the model saved in a pre-training checkpoint (``checkpoint.pt`` or its run folder)
    and load its weights. ``overrides`` change non-architectural options such as ``mask_ratio``."""
    ckpt = load(path, map_location=map_location)
    model = MaskedAutoencoder(MAEConfig.from_dict({**ckpt["model_config"], **overrides}))
    model.load_state_dict(ckpt["model"])
    return model


def load_encoder(init: str, *, model: str = "tiny", frames: int | None = None) -> tuple[MaskedAutoencoder, dict]:
    """The encoder a downstream evaluation starts from, and where it came from.

    ``init="scratch"``: preset ``model``, freshly initialised (seed the global RNG first).
    Otherwise ``init`` is a pre-training run folder or checkpoint file: the architecture comes
    from its ``model_config`` and every encoder parameter must be in its ``model`` weights; the
    decoder's are ignored. Returns ``(model, info)`` with ``info`` keys ``init, pretrain_dataset,
    pretrain_step, model``.
    """
    if init == "scratch":
        overrides = {"frames": frames} if frames else {}
        return models.build(model, **overrides), {"init": "scratch", "pretrain_dataset": "none",
                                                  "pretrain_step": 0, "model": model}
    path = resolve(init)
    ckpt = load(path)
    mae = MaskedAutoencoder(MAEConfig.from_dict(ckpt["model_config"]))
    wanted = mae.encoder_state_dict()
    missing = sorted(set(wanted) - set(ckpt["model"]))
    if missing:
        raise CheckpointError(f"{path} lacks encoder weights {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    bad = [k for k in wanted if ckpt["model"][k].shape != wanted[k].shape]
    if bad:
        raise CheckpointError(f"{path}: encoder weights {bad[:8]} do not match the shapes its model_config implies")
    mae.load_state_dict({k: ckpt["model"][k] for k in wanted}, strict=False)
    pre = ckpt.get("config") or {}
    return mae, {"init": str(path), "pretrain_dataset": str(pre.get("dataset", "unknown")),
                 "pretrain_step": int(ckpt.get("step", 0) or 0), "model": str(pre.get("model", "checkpoint"))}


__all__ = ["CHECKPOINT", "CheckpointError", "build_from_checkpoint", "load", "load_encoder", "resolve", "save"]
