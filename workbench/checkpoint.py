"""Checkpoints: where a run keeps them, how they are written and read, and the models they rebuild.

A pre-training run folder holds ``checkpoint.pt``: ``model`` (state dict), ``model_config``,
``config`` (the run's :class:`~workbench.train.pretrain.PretrainConfig` as a dict), ``optimizer``,
``scheduler``, ``rng``, ``step``, ``shards_done``, ``history``, ``norm_stats``, ``world_size``.
Every value is a tensor or a plain Python value, so files load with
``torch.load(weights_only=True)``: reading a checkpoint never runs code from it, and a file
that would need to (a pickle with objects in it) is refused with its path named.

An *export folder* (:func:`workbench.export.export`) is the other form a pre-trained model takes:
``model.safetensors`` (the weights) and ``config.json`` with ``"format": "workbench-export"``
(model config, normalisation statistics, the run's settings). It is read without pickle at all,
and :func:`load` returns it in the checkpoint's shape (``model``, ``model_config``, ``config``,
``norm_stats``, ``step``, ``run_id``, ``source``, ``world_size``), so everything below takes
either.

:func:`resolve` accepts a run folder, an export folder or a file; :func:`load` reads and checks
the keys; :func:`save` writes atomically; :func:`build_from_checkpoint` rebuilds the pre-trained
model, :func:`load_encoder` the encoder a downstream evaluation starts from, and
:func:`norm_stats` the log-mel statistics the model's inputs were normalised with.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any, Iterable

import torch

from workbench import models
from workbench.audio.frontend import AUDIOSET_STATS, NormStats
from workbench.files import atomic_torch_save
from workbench.models.mae import MAEConfig, MaskedAutoencoder

CHECKPOINT = "checkpoint.pt"
PRETRAIN_KEYS = ("model", "model_config")
EXPORT_FORMAT = "workbench-export"  # config.json's "format" in an export folder
EXPORT_VERSION = 1  # the newest export layout this version reads and writes
EXPORT_WEIGHTS = "model.safetensors"
EXPORT_CONFIG = "config.json"
_RENAMED = {"head_cls": "head_infonce"}  # parameter names of earlier versions -> today's


class CheckpointError(ValueError):
    """A file is not a usable checkpoint; the message names the file and what was expected."""


def is_export(path: str | Path) -> bool:
    """Whether ``path`` is an export folder: a folder whose ``config.json`` says
    ``"format": "workbench-export"``. (A run folder's ``config.json`` has no ``format``.)"""
    config = Path(path).expanduser() / EXPORT_CONFIG
    if not config.is_file():
        return False
    try:
        saved = json.loads(config.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(saved, dict) and saved.get("format") == EXPORT_FORMAT


def resolve(path: str | Path) -> Path:
    """The checkpoint file of a run folder (``RUN/checkpoint.pt``), an export folder itself (also
    for its ``model.safetensors``), or the file itself."""
    path = Path(path).expanduser()
    if path.name == EXPORT_WEIGHTS and is_export(path.parent):
        path = path.parent  # the weights alone are not the model: its folder is
    if path.is_dir():
        if is_export(path):
            return path
        path = path / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: pass a pre-training run folder (holding {CHECKPOINT}), "
                                f"an export folder (holding {EXPORT_WEIGHTS} and {EXPORT_CONFIG}) or a checkpoint "
                                "file")
    return path


def load(path: str | Path, *, map_location: str | torch.device = "cpu",
         required: Iterable[str] = PRETRAIN_KEYS, what: str = "pre-training checkpoint") -> dict[str, Any]:
    """Read a checkpoint weights-only (no code from the file runs) and check that it holds the
    ``required`` keys (``what`` names the kind of file expected, for the error). Errors name the
    file: missing, empty, truncated, not a checkpoint, or holding pickled objects. An export
    folder is read by :func:`load_export`."""
    path = resolve(path)
    if path.is_dir():
        ckpt = load_export(path, map_location=map_location)
        missing = [k for k in required if k not in ckpt]
        if missing:
            raise CheckpointError(f"{path} is an export folder, not a {what} (it lacks {', '.join(map(repr, missing))})")
        return ckpt
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
        hint = ""
        if isinstance(ckpt, dict) and "classifier" in ckpt and "classifier" not in required:
            hint = ": it is a fine-tuned classifier (python -m workbench predict reads those)"
        raise CheckpointError(f"{path} is not a workbench {what} (expected keys "
                              f"{', '.join(map(repr, required))}; found {found}){hint}")
    if isinstance(ckpt.get("model"), dict):
        ckpt["model"] = {_RENAMED.get(k.split(".")[0], k.split(".")[0]) + k[len(k.split(".")[0]):]: v
                         for k, v in ckpt["model"].items()}
    return ckpt


def load_export(folder: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """An export folder in the shape of a pre-training checkpoint: ``model`` (the weights of
    ``model.safetensors``, read without pickle), ``model_config``, ``config`` (the run's
    pre-training settings), ``norm_stats``, ``frames``, ``step``, ``run_id``, ``source``,
    ``world_size``. Errors name the folder and what is wrong with it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder).expanduser()
    config_path, weights_path = folder / EXPORT_CONFIG, folder / EXPORT_WEIGHTS
    try:
        saved = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{config_path} is not readable JSON: {exc}") from None
    if not isinstance(saved, dict) or saved.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{config_path} does not describe a workbench export (expected \"format\": "
                              f"\"{EXPORT_FORMAT}\")")
    version = saved.get("version")
    if not isinstance(version, int) or version > EXPORT_VERSION:
        raise CheckpointError(f"{folder} is a workbench export of version {version!r}; this workbench reads versions "
                              f"up to {EXPORT_VERSION}: upgrade workbench to read it")
    missing = [k for k in ("model_config", "norm_stats") if k not in saved]
    if missing:
        raise CheckpointError(f"{config_path} lacks {', '.join(map(repr, missing))}; re-export the run")
    if not weights_path.is_file():
        raise CheckpointError(f"{folder} is a workbench export but has no {EXPORT_WEIGHTS}; re-export the run")
    device = str(map_location) if isinstance(map_location, torch.device) else map_location
    try:
        weights = load_file(str(weights_path), device=device)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights_path} is not a readable safetensors file (truncated or damaged): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return {"model": weights, "model_config": saved["model_config"], "config": saved.get("pretrain") or {},
            "norm_stats": saved["norm_stats"], "frames": saved.get("frames", saved["model_config"].get("frames")),
            "step": saved.get("step", 0), "run_id": saved.get("run_id", ""), "source": saved.get("source") or {},
            "world_size": saved.get("world_size", 1)}


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
    """Rebuild the model saved in a pre-training checkpoint (``checkpoint.pt``, its run folder, or
    an export folder) and load its weights. ``overrides`` change non-architectural options such as ``mask_ratio``."""
    ckpt = load(path, map_location=map_location)
    model = MaskedAutoencoder(MAEConfig.from_dict({**ckpt["model_config"], **overrides}))
    model.load_state_dict(ckpt["model"])
    return model


def load_encoder(init: str, *, model: str | None = None, frames: int | None = None,
                 tokens: str | None = None) -> tuple[MaskedAutoencoder, dict]:
    """The encoder a downstream evaluation starts from, and where it came from.

    ``init="scratch"``: preset ``model`` (default ``tiny``) with ``tokens`` (default the
    preset's), freshly initialised (seed the global RNG first). Otherwise ``init`` is a pre-training run folder, checkpoint file or export folder: the
    architecture comes from its ``model_config`` and every encoder parameter must be in its
    ``model`` weights; the decoder's are ignored. A ``model`` that differs from the checkpoint's
    is refused (the checkpoint brings its own architecture). Returns ``(model, info)``, ``info``
    as :func:`pretrain_info`.
    """
    if init == "scratch":
        model = model or "tiny"
        overrides = {**({"frames": frames} if frames else {}), **({"tokens": tokens} if tokens else {})}
        encoder = models.build(model, **overrides)
        return encoder, {"init": "scratch", "pretrain_dataset": "none", "pretrain_step": 0, "model": model,
                         "model_config": encoder.cfg.to_dict(), "pretrain": {}}
    path = resolve(init)
    ckpt = load(path)
    info = pretrain_info(ckpt, path)
    if model is not None and model != info["model"]:
        raise ValueError(f"--model {model} conflicts with {path}, which holds a {info['model']} model: a checkpoint "
                         "brings its own architecture, so drop --model (or start from scratch)")
    if tokens is not None and tokens != ckpt["model_config"].get("tokens"):
        raise ValueError(f"--tokens {tokens} conflicts with {path}, whose model has {ckpt['model_config'].get('tokens')} "
                         "tokens: a checkpoint brings its own architecture, so drop --tokens")
    return encoder_from_checkpoint(ckpt, path), info


def encoder_from_checkpoint(ckpt: dict, path: Path) -> MaskedAutoencoder:
    """The model of a loaded checkpoint (:func:`load`) with its encoder weights; the decoder
    keeps its fresh initialisation. Every encoder parameter must be there with the shape the
    ``model_config`` implies; errors name ``path``."""
    mae = MaskedAutoencoder(MAEConfig.from_dict(ckpt["model_config"]))
    wanted = mae.encoder_state_dict()
    missing = sorted(set(wanted) - set(ckpt["model"]))
    if missing:
        raise CheckpointError(f"{path} lacks encoder weights {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    bad = [k for k in wanted if ckpt["model"][k].shape != wanted[k].shape]
    if bad:
        raise CheckpointError(f"{path}: encoder weights {bad[:8]} do not match the shapes its model_config implies")
    mae.load_state_dict({k: ckpt["model"][k] for k in wanted}, strict=False)
    return mae


def norm_stats(ckpt: dict, path: Path) -> NormStats:
    """The log-mel statistics a pre-training run normalised its inputs with (``norm_stats``)."""
    stats = ckpt.get("norm_stats")
    if not isinstance(stats, dict) or not {"mean", "std"} <= set(stats):
        raise CheckpointError(f"{path} records no norm_stats (mean and std of the inputs it was trained on); it was "
                              "written by an earlier version: pre-train again to get a checkpoint that has them")
    return NormStats(mean=float(stats["mean"]), std=float(stats["std"]))


def audio_stats(ckpt: dict, path: Path) -> NormStats:
    """The statistics the model's audio inputs are normalised with outside a downstream task
    (embeddings, HEAR, exports): the run's own when it was pre-trained on audio (they describe
    log-mels), AudioSet's (AST's convention, :data:`~workbench.audio.frontend.AUDIOSET_STATS`)
    when it was pre-trained on patterns, whose statistics describe pixels, not log-mels.
    (A downstream task normalises with its own training split's statistics instead.)"""
    source = (ckpt.get("source") or {}).get("name") or (ckpt.get("config") or {}).get("dataset", "")
    return norm_stats(ckpt, path) if str(source).startswith("audio:") else AUDIOSET_STATS


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


__all__ = ["CHECKPOINT", "CheckpointError", "EXPORT_CONFIG", "EXPORT_FORMAT", "EXPORT_VERSION", "EXPORT_WEIGHTS",
           "audio_stats", "build_from_checkpoint", "encoder_from_checkpoint", "is_export", "load", "load_encoder", "load_export",
           "norm_stats", "pretrain_info", "resolve", "save"]
