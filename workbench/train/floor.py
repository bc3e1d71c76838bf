"""The floor: what a task gives without any encoder. Pooled log-mel statistics (the mean and the
standard deviation over time of every mel bin of a clip's full log-mel, 2 x 128 numbers) with a
logistic regression (multinomial; one-vs-rest for multi-label tasks), its regularisation chosen
by 3-fold cross-validation on the training split. An encoder that does not beat it has learned
nothing a linear model on the spectrum's statistics did not already have.

It runs on the same splits as every downstream evaluation (``finetune --init floor``), and its
rows appear in the results as ``pretrain_dataset = "floor"``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from workbench.audio.clips import AudioClipDataset, clip_fbank
from workbench.metrics import evaluate_logits

FLOOR = "floor"
C_GRID = (0.01, 0.1, 1.0, 10.0)  # inverse regularisation strengths the cross-validation chooses from


def logmel_statistics(ds: AudioClipDataset) -> np.ndarray:
    """``[N, 2 * n_mels]``: per clip, the mean then the std over time of each mel bin of its whole
    (uncropped, unpadded) log-mel."""
    rows = []
    for clip in ds.clips:
        spec = clip_fbank(clip).double()  # [frames, n_mels]
        std = spec.std(0) if spec.shape[0] > 1 else torch.zeros(spec.shape[1], dtype=spec.dtype)
        rows.append(torch.cat([spec.mean(0), std]).numpy())
    return np.stack(rows) if rows else np.zeros((0, 256))


def fit_floor(train: AudioClipDataset, *, seed: int = 0):
    """The fitted pipeline on ``train``: standardisation, then a logistic regression whose
    regularisation 3-fold cross-validation picks from :data:`C_GRID` (single-label tasks whose
    every class has 3 clips or more; otherwise ``C = 1``, one classifier per class for
    multi-label tasks)."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = logmel_statistics(train), train.targets().numpy()
    if train.multilabel:
        head = OneVsRestClassifier(LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
    elif np.bincount(y.astype(int)).min() >= 3:
        head = LogisticRegressionCV(Cs=list(C_GRID), cv=3, max_iter=2000, random_state=seed, scoring="accuracy")
    else:
        head = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    with warnings.catch_warnings():  # scikit-learn 1.9 announces changes to defaults this code does not use
        warnings.filterwarnings("ignore", message=".*(use_legacy_attributes|l1_ratios)", category=FutureWarning)
        return make_pipeline(StandardScaler(), head).fit(x, y)


def floor_scores(model, ds: AudioClipDataset) -> torch.Tensor:
    """Class scores ``[N, C]`` of a fitted floor: log-probabilities (single-label) or the logits
    of each class's one-vs-rest probability (multi-label), so that ``argmax`` and ``sigmoid`` read
    them as the neural classifiers' logits are read."""
    proba = np.clip(model.predict_proba(logmel_statistics(ds)), 1e-7, 1 - 1e-7)
    scores = np.log(proba / (1 - proba)) if ds.multilabel else np.log(proba)
    full = np.full((len(ds), ds.num_classes), -20.0)  # a class the training split lacks is never predicted
    classes = model.classes_ if not ds.multilabel else np.arange(ds.num_classes)
    full[:, classes] = scores
    return torch.from_numpy(full).float()


def evaluate_floor(model, ds: AudioClipDataset) -> dict:
    """Accuracy (and mAP or the confusion matrix) of a fitted floor on ``ds``."""
    return evaluate_logits(floor_scores(model, ds), ds.targets(), multilabel=ds.multilabel,
                           num_classes=ds.num_classes)


__all__ = ["C_GRID", "FLOOR", "evaluate_floor", "fit_floor", "floor_scores", "logmel_statistics"]
