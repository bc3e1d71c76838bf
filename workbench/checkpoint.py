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
import re
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
        with torch.serialization.safe_globals(_numpy_array_globals()):
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found is None:
            raise CheckpointError(f"{path} is not a readable checkpoint (not written by torch.save, or damaged)") from None
        raise CheckpointError(
            f"refused to load {path}: it holds pickled Python objects ({found.group(1)}), not only tensors and "
            "plain values, and loading it could run code from the file. Load only checkpoints you trust, and "
            "re-save their tensors with torch.save.") from None
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


def _numpy_array_globals() -> list:
    """What rebuilding a plain numpy array needs: checkpoints of earlier versions kept numpy's RNG
    state as an array. These build data only (an array of a dtype), never call anything else."""
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    dtypes = [getattr(np.dtypes, name) for name in getattr(np.dtypes, "__all__", [])]
    return [_reconstruct, np.ndarray, np.dtype, *dtypes]


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


def load_encoder(init: str, *, model: str | None = None,
                 frames: int | None = None) -> tuple[MaskedAutoencoder, dict]:
    """The encoder a downstream evaluation starts from, and where it came from.

    ``init="scratch"``: preset ``model`` (default ``tiny``), freshly initialised (seed the global
    RNG first). Otherwise ``init`` is a pre-training run folder or checkpoint file: the
    architecture comes from its ``model_config`` and every encoder parameter must be in its
    ``model`` weights; the decoder's are ignored. A ``model`` that differs from the checkpoint's
    is refused (the checkpoint brings its own architecture). Returns ``(model, info)``, ``info``
    as :func:`pretrain_info`.
    """
    if init == "scratch":
        model = model or "tiny"
        overrides = {"frames": frames} if frames else {}
        encoder = models.build(model, **overrides)
        return encoder, {"init": "scratch", "pretrain_dataset": "none", "pretrain_step": 0, "model": model,
                         "model_config": encoder.cfg.to_dict(), "pretrain": {}}
    path = resolve(init)
    ckpt = load(path)
    info = pretrain_info(ckpt, path)
    if model is not None and model != info["model"]:
        raise ValueError(f"--model {model} conflicts with {path}, which holds a {info['model']} model: a checkpoint "
                         "brings its own architecture, so drop --model (or start from scratch)")
    mae = MaskedAutoencoder(MAEConfig.from_dict(ckpt["model_config"]))
    wanted = mae.encoder_state_dict()
    missing = sorted(set(wanted) - set(ckpt["model"]))
    if missing:
        raise CheckpointError(f"{path} lacks encoder weights {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    bad = [k for k in wanted if ckpt["model"][k].shape != wanted[k].shape]
    if bad:
        raise CheckpointError(f"{path}: encoder weights {bad[:8]} do not match the shapes its model_config implies")
    mae.load_state_dict({k: ckpt["model"][k] for k in wanted}, strict=False)
    return mae, info


def pretrain_info(ckpt: dict, path: Path) -> dict:
    """Where a pre-trained encoder came from: ``init`` (the file), ``pretrain_dataset`` (the name
    results use), ``pretrain_step``, ``model`` (the preset), ``pretrain_run`` (the run's id),
    ``model_config`` and ``pretrain`` (the run's settings)."""
    pre = ckpt.get("config") or {}
    source = ckpt.get("source") or {}
    dataset = source.get("name") or str(pre.get("dataset", "unknown"))
    return {"init": str(path), "pretrain_dataset": dataset, "pretrain_step": int(ckpt.get("step", 0) or 0),
            "model": str(pre.get("model", "checkpoint")), "pretrain_run": str(ckpt.get("run_id", "")),
            "model_config": ckpt["model_config"], "pretrain": pre,
            "pretrain_global_batch": pre.get("batch_size", 0) * pre.get("accum_steps", 1) * ckpt.get("world_size", 1)}


__all__ = ["CHECKPOINT", "CheckpointError", "build_from_checkpoint", "load", "load_encoder", "pretrain_info", "resolve",
           "save"]
