"""Downstream metrics against hand-computed values and scikit-learn."""

import numpy as np
import pytest
import torch

from workbench.metrics import evaluate_logits, mean_average_precision


def test_mean_average_precision_matches_hand_computed_values():
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.7], [0.7, 0.2]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    # class 0: positives at ranks 1 and 3 -> (1 + 2/3) / 2; class 1: positive at rank 1 -> 1
    assert mean_average_precision(scores, targets) == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)


def test_mean_average_precision_equals_scikit_learn_on_tie_free_scores():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    scores = rng.permutation(200 * 6).reshape(200, 6).astype(np.float64)  # distinct: no ties
    targets = (rng.random((200, 6)) < 0.3).astype(np.float64)
    targets[:, 5] = 0  # a class with no positive is left out, as scikit-learn's macro average would warn
    ours = mean_average_precision(torch.from_numpy(scores), torch.from_numpy(targets))
    theirs = np.mean([average_precision_score(targets[:, c], scores[:, c]) for c in range(5)])
    assert ours == pytest.approx(theirs, rel=1e-6)  # ours accumulates in float32


def test_accuracy_and_confusion_matrix():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0]])
    targets = torch.tensor([0, 1, 2, 2])
    out = evaluate_logits(logits, targets, multilabel=False, num_classes=3)
    assert out["accuracy"] == 0.75
    assert out["confusion"].tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    multi = evaluate_logits(logits, torch.tensor([[1.0, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 1]]), multilabel=True,
                            num_classes=3)
    assert multi["accuracy"] == 0.75 and 0 < multi["map"] <= 1
