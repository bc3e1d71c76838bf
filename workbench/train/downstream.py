"""The downstream loop: :func:`train_one_epoch` and :func:`evaluate` over ``(x, y)`` batches
(log-mels for fine-tuning, pooled features for the linear probe), and the two ways of running a
classifier over a dataset (:func:`extract_features`, :func:`predict`)."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from workbench.audio.augment import mixup
from workbench.audio.clips import AudioClipDataset
from workbench.metrics import evaluate_logits
from workbench.models.classifier import AudioClassifier


def soft_targets(y: torch.Tensor, num_classes: int, multilabel: bool) -> torch.Tensor:
    """Targets as a probability (or multi-hot) matrix ``[N, C]``, the form mixup mixes."""
    return y.float() if multilabel else F.one_hot(y, num_classes).float()


def classification_loss(logits: torch.Tensor, soft: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Cross-entropy against soft targets, or binary cross-entropy for multi-label tasks."""
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, soft)
    return F.cross_entropy(logits, soft)


def train_one_epoch(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler, *,
                    num_classes: int, multilabel: bool, mixup_alpha: float = 0.0,
                    rng: np.random.Generator | None = None, generator: torch.Generator | None = None) -> dict:
    """One pass over ``batches`` with a scheduler step per batch; returns ``train_loss`` and
    ``train_accuracy`` (top-1 against the (mixed) target: its largest class, or any label of a
    multi-label clip), both averaged over samples."""
    model.train()
    loss_sum, correct, seen = 0.0, 0.0, 0
    for x, y in batches:
        soft = soft_targets(y, num_classes, multilabel)
        if mixup_alpha > 0:
            x, soft = mixup(x, soft, alpha=mixup_alpha, rng=rng, generator=generator)
        logits = model(x)
        loss = classification_loss(logits, soft, multilabel)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += float(loss.detach()) * len(x)
        top = logits.detach().argmax(1, keepdim=True)
        hit = soft.gather(1, top).squeeze(1) > 0.5 if multilabel else top.squeeze(1) == soft.argmax(1)
        correct += float(hit.sum())
        seen += len(x)
    return {"train_loss": loss_sum / max(seen, 1), "train_accuracy": correct / max(seen, 1)}


@torch.no_grad()
def evaluate(model: Callable[[torch.Tensor], torch.Tensor], batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *,
             num_classes: int, multilabel: bool) -> dict:
    """Metrics of ``model`` over ``batches`` (eval mode): ``accuracy``, ``map`` (multi-label) or
    the ``confusion`` matrix (single-label); see :func:`workbench.metrics.evaluate_logits`."""
    if isinstance(model, nn.Module):
        model.eval()
    logits, targets = [], []
    for x, y in batches:
        logits.append(model(x).float().cpu())
        targets.append(y.cpu())
    if not logits:
        raise ValueError("evaluate got no batches")
    return evaluate_logits(torch.cat(logits), torch.cat(targets), multilabel=multilabel, num_classes=num_classes)


def dataset_batches(ds: AudioClipDataset, batch_size: int, *, device: torch.device,
                    order: torch.Tensor | None = None,
                    transform: Callable[[torch.Tensor], torch.Tensor] | None = None
                    ) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, y)`` batches of a dataset on ``device``, in ``order`` (default: the dataset's),
    with ``transform`` (e.g. SpecAugment) applied to each ``x`` on the CPU."""
    idx = order.tolist() if order is not None else list(range(len(ds)))
    for start in range(0, len(idx), batch_size):
        x, y = ds.batch(idx[start:start + batch_size])
        if transform is not None:
            x = transform(x)
        yield x.to(device), y.to(device)


@torch.no_grad()
def extract_features(clf: AudioClassifier, ds: AudioClipDataset, *, device: torch.device, batch_size: int = 64,
                     progress: bool = False) -> torch.Tensor:
    """Pooled encoder features ``[N, feature_dim]`` of a dataset (eval mode, no augmentation), on the CPU."""
    from tqdm.auto import tqdm

    clf.eval()
    out = [clf.features(x).float().cpu()
           for x, _ in tqdm(dataset_batches(ds, batch_size, device=device), total=-(-len(ds) // batch_size),
                            desc="features", leave=False, disable=not progress)]
    return torch.cat(out) if out else torch.zeros(0, clf.encoder.feature_dim(clf.pool))


@torch.no_grad()
def predict(clf: nn.Module, ds: AudioClipDataset, *, device: torch.device, batch_size: int = 64) -> torch.Tensor:
    """Logits ``[N, C]`` of a classifier over a dataset (eval mode), on the CPU."""
    clf.eval()
    return torch.cat([clf(x).float().cpu() for x, _ in dataset_batches(ds, batch_size, device=device)])


__all__ = ["classification_loss", "dataset_batches", "evaluate", "extract_features", "predict", "soft_targets",
           "train_one_epoch"]
