"""Export a pre-trained model so it can leave the workbench: weights without pickle, plus the
facts needed to feed it audio.

>>> from workbench.export import export
>>> export("runs/fdb", "exports/fdb")   # a pre-training run folder, or its checkpoint.pt

``out_dir`` receives

* ``model.safetensors``: every weight of the model (encoder and decoder), nothing else;
* ``config.json``: ``{"format": "workbench-export", "version": 1, "model_config", "norm_stats":
  {"mean", "std"} (the run's inputs), "audio_norm_stats" (what audio is normalised with:
  :func:`workbench.checkpoint.audio_stats`), "frames", "pretrain" (the run's pre-training
  settings), "source", "run_id", "step", "world_size"}``;
* ``preprocessor_config.json``: the settings of Hugging Face's ``ASTFeatureExtractor`` that
  reproduce the workbench's input for a 16 kHz waveform (Kaldi log-mel, cropped or zero-padded to
  ``frames``, ``(x - mean) / (2 * std)`` with ``audio_norm_stats``), so
  ``ASTFeatureExtractor.from_pretrained(out_dir)(wave, sampling_rate=16000).input_values[0]`` is
  ``normalize(wav2fbank(wave, target_frames=frames), stats)[0].T`` (to float rounding).

:mod:`workbench.checkpoint` reads the folder back like a run folder (``--init`` of ``finetune``,
``embed``, ``workbench.hear``), without pickle. Nothing is ever overwritten: an existing
non-empty ``out_dir`` is refused, and the files appear together (written to a temporary folder
beside it, then renamed into place).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from workbench import checkpoint
from workbench.audio.frontend import SAMPLE_RATE
from workbench.models.mae import MAEConfig, MaskedAutoencoder

PREPROCESSOR_CONFIG = "preprocessor_config.json"


def export(run: str | Path, out_dir: str | Path) -> Path:
    """Write the export folder of the pre-training run (folder or checkpoint file) ``run`` to
    ``out_dir`` and return ``out_dir``. Raises ``FileExistsError`` when ``out_dir`` exists and is
    not empty, and :class:`~workbench.checkpoint.CheckpointError` when ``run`` is not a
    pre-training checkpoint (a fine-tuned classifier, say) or lacks what an export needs."""
    out = Path(out_dir).expanduser()
    _check_out_dir(out)
    path = checkpoint.resolve(run)
    ckpt = checkpoint.load(path)
    stats, audio = checkpoint.norm_stats(ckpt, path), checkpoint.audio_stats(ckpt, path)
    model = MaskedAutoencoder(MAEConfig.from_dict(ckpt["model_config"]))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise checkpoint.CheckpointError(f"{path}: its weights do not fit its model_config "
                                         f"({str(exc).splitlines()[0]})") from None
    model_config = model.cfg.to_dict()
    frames = int(model_config["frames"])
    config = {
        "format": checkpoint.EXPORT_FORMAT, "version": checkpoint.EXPORT_VERSION, "model_config": model_config,
        "norm_stats": stats.to_dict(), "audio_norm_stats": audio.to_dict(), "frames": frames, "pretrain": ckpt.get("config") or {},
        "source": ckpt.get("source") or {}, "run_id": str(ckpt.get("run_id", "")), "step": int(ckpt.get("step", 0)),
        "world_size": int(ckpt.get("world_size", 1)),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _save_weights(model, tmp / checkpoint.EXPORT_WEIGHTS)
        _write_json(config, tmp / checkpoint.EXPORT_CONFIG)
        _write_json(ast_preprocessor_config(frames=frames, mean=audio.mean, std=audio.std,
                                            n_mels=model.cfg.n_mels), tmp / PREPROCESSOR_CONFIG)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; an export is meant to be shared
        if out.exists():
            out.rmdir()  # empty (checked above); rename below refuses a folder that filled meanwhile
        try:
            os.rename(tmp, out)
        except OSError as exc:
            raise FileExistsError(f"{out} appeared while exporting and is not empty; nothing was overwritten "
                                  f"({exc.strerror})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def ast_preprocessor_config(*, frames: int, mean: float, std: float, n_mels: int = 128) -> dict:
    """``preprocessor_config.json`` for Hugging Face's ``ASTFeatureExtractor``: Kaldi fbank at
    16 kHz with ``n_mels`` bins, cropped or zero-padded to ``frames``, then
    ``(x - mean) / (2 * std)``: the workbench's front-end and normalisation."""
    return {"feature_extractor_type": "ASTFeatureExtractor", "feature_size": 1, "sampling_rate": SAMPLE_RATE,
            "num_mel_bins": n_mels, "max_length": frames, "padding_value": 0.0, "do_normalize": True,
            "mean": float(mean), "std": float(std), "return_attention_mask": False}


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose another output folder (--out)")
    if out.is_dir() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; an export never overwrites: choose a new or empty folder (--out)")


def _save_weights(model: MaskedAutoencoder, path: Path) -> None:
    """Every parameter and buffer as a safetensors file (contiguous CPU copies, no shared storage)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": "pt"})


def _write_json(obj: dict, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


__all__ = ["PREPROCESSOR_CONFIG", "ast_preprocessor_config", "export"]
