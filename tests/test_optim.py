"""Parameter groups and the warm-up + cosine schedule."""

import pytest

from workbench import models
from workbench.models.classifier import AudioClassifier
from workbench.train.optim import layer_decay_groups, param_groups, warmup_cosine


def test_warmup_cosine_schedule():
    lrs = [warmup_cosine(s, total=100, warmup=10, min_ratio=0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_no_weight_decay_on_biases_norms_and_tokens():
    model = models.build("nano")
    decay, no_decay = param_groups(model, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim < 2 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_layer_decay_scales_the_lr_per_block():
    clf = AudioClassifier(models.build("nano"), 3)
    groups = layer_decay_groups(clf, lr=1.0, weight_decay=0.05, layer_decay=0.5)
    depth = len(clf.encoder.blocks)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert lr_of[id(clf.head[1].weight)] == 1.0
    assert lr_of[id(clf.encoder.blocks[depth - 1].mlp[0].weight)] == 0.5
    assert lr_of[id(clf.encoder.patch_embed.weight)] == 0.5 ** (depth + 1)
    assert all(g["weight_decay"] == 0.0 for g in groups if any(p.ndim < 2 for p in g["params"]))
