"""Class predictions for audio files from a classifier that ``finetune`` saved.

>>> from workbench.predict import predict
>>> for p in predict(["dog.wav"], classifier="runs/ft", top_k=3):
...     print(p.path, p.top)          # [("dog", 0.91), ("rain", 0.06), ...]

``classifier`` is a fine-tuning folder written with ``save_model=True`` (it holds
``classifier_fold<F>.pt``: ``classifier_foldnone.pt`` for a task with fixed splits, one file per
fold for a cross-validated one, then ``fold`` picks which) or such a file. It is read weights-only
(:func:`workbench.checkpoint.load`: ``torch.load(weights_only=True)``, no pickled objects) and
rebuilt as an :class:`~workbench.models.classifier.AudioClassifier`; its inputs are made as in
fine-tuning: Kaldi log-mel, the task's ``norm_stats``, ``frames`` per window.

A file longer than ``frames`` is cut into consecutive windows (the last zero-padded in the
log-mel domain, :func:`workbench.embed.log_mel_windows`); the classifier's logits are averaged
over the windows, then turned into probabilities with a softmax (every registered task is
single-label).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from workbench import checkpoint
from workbench.audio.frontend import NormStats
from workbench.distributed import resolve_device
from workbench.embed import DEFAULT_BATCH, AudioInput, audio_inputs, batched_windows, log_mel_windows
from workbench.models.classifier import AudioClassifier
from workbench.models.mae import MAEConfig, MaskedAutoencoder

CLASSIFIER_PREFIX = "classifier_fold"
CLASSIFIER_KEYS = ("classifier", "head", "pool", "model_config", "class_names", "norm_stats", "frames")


@dataclass(frozen=True)
class Prediction:
    """The ``top`` classes of one file: ``(class name, probability)``, most probable first."""

    path: str
    top: list[tuple[str, float]]


@dataclass
class LoadedClassifier:
    """A saved classifier, ready to run: the module (eval mode) and what its inputs need."""

    model: AudioClassifier
    class_names: list[str]
    stats: NormStats
    frames: int
    path: Path

    def windows(self, wave: torch.Tensor) -> torch.Tensor:
        """Normalised inputs ``[W, 1, n_mels, frames]`` of a 16 kHz mono ``wave`` (:func:`log_mel_windows`)."""
        return log_mel_windows(wave, frames=self.frames, stats=self.stats, n_mels=self.model.encoder.cfg.n_mels)

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        """``(logits [B, C],)`` of windows ``x: [B, 1, n_mels, frames]``."""
        return (self.model(x.to(next(self.model.parameters()).device)),)


def classifier_file(run: str | Path, *, fold: str | int | None = None) -> Path:
    """The classifier file of a fine-tuning folder (or ``run`` itself when it is a file):
    ``classifier_foldnone.pt`` or the only one there; with several folds, ``fold`` must name
    one, and the error lists them."""
    run = Path(run).expanduser()
    if run.is_file():
        return run
    if not run.is_dir():
        raise FileNotFoundError(f"no classifier at {run}: pass a fine-tuning folder (holding {CLASSIFIER_PREFIX}*.pt) "
                                "or such a file")
    found = {p.name[len(CLASSIFIER_PREFIX):-len(".pt")]: p for p in sorted(run.glob(f"{CLASSIFIER_PREFIX}*.pt"))}
    if not found:
        hint = (" (it holds a pre-training run: predict needs a fine-tuned classifier)"
                if (run / checkpoint.CHECKPOINT).exists() or checkpoint.is_export(run) else "")
        raise FileNotFoundError(f"{run} holds no {CLASSIFIER_PREFIX}*.pt{hint}: fine-tune with --save-model "
                                "(FinetuneConfig(save_model=True)) to save one")
    if fold is not None:
        if str(fold) not in found:
            raise FileNotFoundError(f"{run} has no classifier for fold {fold}; folds saved there: {', '.join(found)}")
        return found[str(fold)]
    if len(found) == 1:
        return next(iter(found.values()))
    raise ValueError(f"{run} holds classifiers for several folds ({', '.join(found)}): choose one with --fold "
                     "(fold=...)")


def load_classifier(run: str | Path, *, fold: str | int | None = None,
                    device: str | torch.device = "cpu") -> LoadedClassifier:
    """Rebuild the classifier saved in ``run`` (see :func:`classifier_file`), weights-only, on
    ``device``. Its saved weights must be exactly what the classifier holds."""
    path = classifier_file(run, fold=fold)
    saved = checkpoint.load(path, required=CLASSIFIER_KEYS,
                            what="fine-tuned classifier (saved by finetune with save_model=True)")
    encoder = MaskedAutoencoder(MAEConfig.from_dict(saved["model_config"]))
    model = AudioClassifier(encoder, len(saved["class_names"]), pool=saved["pool"], head=saved["head"])
    expected, state = set(model.classifier_state_dict()), saved["classifier"]
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise checkpoint.CheckpointError(f"{path}: its weights do not fit its classifier (missing {missing[:6]}, "
                                         f"unexpected {unexpected[:6]})")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise checkpoint.CheckpointError(f"{path}: {str(exc).splitlines()[0]}") from None
    return LoadedClassifier(model.eval().to(resolve_device(device)), [str(c) for c in saved["class_names"]],
                            checkpoint.norm_stats(saved, path), int(saved["frames"]), path)


def predict(paths: AudioInput | Sequence[AudioInput], *, classifier: str | Path, top_k: int = 3,
            device: str | torch.device = "cpu", fold: str | int | None = None,
            batch_size: int = DEFAULT_BATCH) -> list[Prediction]:
    """The ``top_k`` most probable classes of each audio file (a folder: of each file below it)
    under the classifier saved in ``classifier`` (see the module docstring). An unreadable file
    raises :class:`~workbench.audio.frontend.AudioLoadError` naming it."""
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    clf = load_classifier(classifier, fold=fold, device=device)
    inputs = audio_inputs(paths)
    k = min(top_k, len(clf.class_names))
    out = []
    rows = batched_windows((load() for _, load in inputs), windows=clf.windows, run=clf.logits, batch_size=batch_size)
    for (name, _), ((logits,), _) in zip(inputs, rows):
        values, indices = logits.float().mean(dim=0).softmax(dim=0).topk(k)
        out.append(Prediction(name, [(clf.class_names[i], float(v)) for v, i in zip(values.tolist(), indices.tolist())]))
    return out


__all__ = ["CLASSIFIER_KEYS", "LoadedClassifier", "Prediction", "classifier_file", "load_classifier", "predict"]
