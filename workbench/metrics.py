"""Downstream metrics from logits: top-1 accuracy, macro mean average precision (multi-label)
and the confusion matrix."""

from __future__ import annotations

import numpy as np
import torch


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Macro mAP over classes with at least one positive. ``scores, targets: [N, C]``; AP is the
    mean precision at the rank of each positive (ties broken by order)."""
    aps = []
    for c in range(scores.shape[1]):
        pos = targets[:, c] > 0.5
        if not pos.any():
            continue
        order = torch.argsort(scores[:, c], descending=True)
        hits = pos[order].float()
        precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
        aps.append(float((precision * hits).sum() / hits.sum()))
    return float(np.mean(aps)) if aps else float("nan")


def evaluate_logits(logits: torch.Tensor, targets: torch.Tensor, *, multilabel: bool,
                    num_classes: int) -> dict:
    """``accuracy`` (top-1; multi-label: top-1 in the label set), ``map`` (multi-label), and the
    ``confusion`` matrix ``[C, C]`` (rows true, columns predicted; single-label)."""
    pred = logits.argmax(dim=1)
    if multilabel:
        acc = float(targets[torch.arange(len(pred)), pred].gt(0.5).float().mean()) if len(pred) else float("nan")
        return {"accuracy": acc, "map": mean_average_precision(logits.sigmoid(), targets)}
    acc = float((pred == targets).float().mean()) if len(pred) else float("nan")
    conf = torch.bincount(targets * num_classes + pred, minlength=num_classes ** 2).view(num_classes, num_classes)
    return {"accuracy": acc, "confusion": conf}


__all__ = ["evaluate_logits", "mean_average_precision"]
