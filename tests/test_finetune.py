"""Linear probing and fine-tuning: config, checkpoint loading, protocols, folds, metrics, results CSV."""

import csv
import json
import math
import re

import numpy as np
import pytest
import soundfile as sf
import torch

from workbench.audio import tasks
from workbench.audio.clips import Clip
from workbench.train.finetune import FinetuneConfig, finetune

from fakes import TONES, make_esc50, make_tone_task, tone

SR = 16_000


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.one_thread


@pytest.fixture
def tones_folder(tmp_path):
    """A separable toy task in the folder layout: three tone heights, 8 train + 4 test clips each."""
    return make_tone_task(tmp_path / "tones", n_train=8, n_test=4)


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---- config -------------------------------------------------------------------------------------
def test_config_from_dict_rejects_unknown_keys_and_bad_values():
    cfg = FinetuneConfig.from_dict({"task": "esc50", "fold": 3, "lr": 1e-3, "results_csv": None})
    assert cfg.fold == "3" and cfg.peak_lr == 1e-3
    assert FinetuneConfig(protocol="finetune").peak_lr == 1e-3
    with pytest.raises(ValueError, match="unknown FinetuneConfig keys.*checkpoint"):
        FinetuneConfig.from_dict({"checkpoint": "x"})
    with pytest.raises(TypeError, match="epochs"):
        FinetuneConfig.from_dict({"epochs": "3"})
    with pytest.raises(ValueError, match="protocol must be one of"):
        FinetuneConfig(protocol="probe")
    with pytest.raises(ValueError, match="fold"):
        FinetuneConfig(fold="first")
    with pytest.raises(ValueError, match="layer_decay"):
        FinetuneConfig(layer_decay=1.5)


# ---- end to end ---------------------------------------------------------------------------------
def test_pretrain_on_audio_then_finetune_from_its_checkpoint(tones_folder, tmp_path):
    """End to end: MAE pre-training on audio:FOLDER (engine + pretrain_source), then both protocols."""
    from workbench.train.pretrain import PretrainConfig, pretrain

    pretrain(PretrainConfig(dataset=f"audio:{tones_folder}", model="nano", frames=32, steps=2, batch_size=4,
                            warmup_steps=1, device="cpu", out_dir=str(tmp_path / "pre")), progress=False)
    csv_path = tmp_path / "results.csv"
    for protocol in ("linear", "finetune"):
        m = finetune(FinetuneConfig(task="folder", root=str(tones_folder), init=str(tmp_path / "pre"),
                                    protocol=protocol, epochs=2, batch_size=8, device="cpu",
                                    out_dir=str(tmp_path / protocol), results_csv=str(csv_path)), progress=False)
        assert re.fullmatch(r"audio:tones-[0-9a-f]{6}", m["pretrain_dataset"]) and m["pretrain_step"] == 2
        assert len(m["history"]) == 2 and all(math.isfinite(r["train_loss"]) for r in m["history"])
    rows = read_rows(csv_path)
    assert [(r["protocol"], r["metric"]) for r in rows] == [("linear", "test_accuracy"), ("finetune", "test_accuracy")]
    assert rows[0]["pretrain_dataset"] == m["pretrain_dataset"] and rows[0]["fold"] == "none"


# ---- protocols ----------------------------------------------------------------------------------
def test_linear_probe_on_separable_toy_task_reaches_high_accuracy(tones_folder, tmp_path):
    out = tmp_path / "lin"
    m = finetune(FinetuneConfig(task="folder", root=str(tones_folder), model="nano", protocol="linear", epochs=30,
                                batch_size=8, device="cpu", out_dir=str(out), results_csv=None), progress=False)
    assert m["test_accuracy"] >= 0.9, m["history"][-1]
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test_accuracy"] == m["test_accuracy"] and saved["class_names"] == ["class0", "class1", "class2"]
    cm = np.array(saved["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == 12 and np.trace(cm) / 12 == pytest.approx(m["test_accuracy"])
    assert [r["epoch"] for r in saved["history"]] == list(range(1, 31))
    assert json.loads((out / "config.json").read_text())["finetune"]["protocol"] == "linear"


def test_finetune_protocol_with_specaug_mixup_and_layer_decay(tones_folder, tmp_path):
    cfg = FinetuneConfig(task="folder", root=str(tones_folder), model="nano", protocol="finetune", epochs=2,
                         batch_size=8, device="cpu", mixup=0.4, specaug=True, out_dir=str(tmp_path / "ft"),
                         results_csv=None, save_model=True, lr=1e-3, layer_decay=0.5)
    m = finetune(cfg, progress=False)
    assert len(m["history"]) == 2 and 0.0 <= m["test_accuracy"] <= 1.0
    saved = torch.load(tmp_path / "ft" / "classifier_foldnone.pt", weights_only=True)
    assert saved["protocol"] == "finetune" and "head.1.weight" in saved["classifier"]


def test_cross_validation_folds(tmp_path):
    root = make_esc50(tmp_path / "esc", classes=("low", "high"), freqs=(TONES[0], TONES[2]))
    csv_path = tmp_path / "res.csv"
    base = dict(task="esc50", root=str(root), model="nano", epochs=2, batch_size=4, device="cpu",
                results_csv=str(csv_path))
    m = finetune(FinetuneConfig(**base, out_dir=str(tmp_path / "all")), progress=False)
    assert m["folds"] == ["1", "2", "3", "4", "5"] and len(m["per_fold"]) == 5
    assert m["test_accuracy"] == pytest.approx(np.mean([f["test_accuracy"] for f in m["per_fold"]]))
    assert np.array(m["confusion_matrix"]).sum() == 10  # every clip is tested exactly once
    m = finetune(FinetuneConfig(**base, fold="4", out_dir=str(tmp_path / "one")), progress=False)
    assert m["folds"] == ["4"]
    assert [r["fold"] for r in read_rows(csv_path)] == ["1", "2", "3", "4", "5", "4"]
    with pytest.raises(ValueError, match="valid folds: 1, 2, 3, 4, 5"):
        finetune(FinetuneConfig(**base, fold="9", out_dir=str(tmp_path / "bad")), progress=False)


def test_fold_on_a_task_without_folds_is_an_error(tones_folder, tmp_path):
    with pytest.raises(ValueError, match="not folds"):
        finetune(FinetuneConfig(task="folder", root=str(tones_folder), fold="1", out_dir=str(tmp_path / "x"),
                                results_csv=None), progress=False)


# ---- multi-label --------------------------------------------------------------------------------
def _toy_multilabel(root, *, seed=0):
    rng = np.random.default_rng(seed)
    clips = []
    for split, n in (("train", 24), ("test", 12)):
        for k in range(n):
            labels = tuple(int(c) for c in np.flatnonzero(rng.random(3) < 0.5)) or (int(rng.integers(3)),)
            wave = sum(tone(TONES[c], seed=k * 7 + c) for c in labels)
            clips.append(Clip(f"toy_ml/{seed}/{split}/{k}", labels, split, wave=torch.from_numpy(wave)))
    return tasks.TaskData("_toy_multilabel", clips, ["low", "mid", "high"], 32, multilabel=True)


if "_toy_multilabel" not in tasks.names():
    tasks.register_task("_toy_multilabel", description="test-only multi-label tones", needs_root=False)(_toy_multilabel)


def test_multilabel_task_reports_map(tmp_path):
    m = finetune(FinetuneConfig(task="_toy_multilabel", model="nano", epochs=30, batch_size=8, device="cpu",
                                out_dir=str(tmp_path / "ml"), results_csv=str(tmp_path / "r.csv")), progress=False)
    assert m["test_map"] >= 0.8 and "confusion_matrix" not in m
    assert {r["metric"] for r in read_rows(tmp_path / "r.csv")} == {"test_accuracy", "test_map"}


# ---- trustworthy runs ---------------------------------------------------------------------------
def test_finetune_never_writes_into_a_pretraining_run_and_refuses_an_earlier_finetune(tones_folder, tmp_path):
    from workbench.rundir import RunExistsError
    from workbench.train.pretrain import PretrainConfig, pretrain

    pre = tmp_path / "pre"
    pretrain(PretrainConfig(dataset="stat_spectrum", model="nano", frames=32, steps=1, batch_size=2, device="cpu",
                            out_dir=str(pre)), progress=False)
    before = {n: (pre / n).read_bytes() for n in ("config.json", "metrics.json")}
    base = dict(task="folder", root=str(tones_folder), init=str(pre), epochs=1, batch_size=8, device="cpu",
                results_csv=str(tmp_path / "r.csv"))
    for overwrite in (False, True):
        with pytest.raises(RunExistsError, match="holds a pre-training run"):
            finetune(FinetuneConfig(**base, out_dir=str(pre), overwrite=overwrite), progress=False)
    assert all((pre / n).read_bytes() == b for n, b in before.items())

    first = finetune(FinetuneConfig(**base, out_dir=str(tmp_path / "ft")), progress=False)
    with pytest.raises(RunExistsError, match=rf"holds a fine-tuning run \(run {first['run_id']}\).*--overwrite"):
        finetune(FinetuneConfig(**base, out_dir=str(tmp_path / "ft")), progress=False)
    assert len(read_rows(tmp_path / "r.csv")) == 1
    second = finetune(FinetuneConfig(**base, out_dir=str(tmp_path / "ft"), overwrite=True, seed=1), progress=False)
    rows = read_rows(tmp_path / "r.csv")
    assert [r["run_id"] for r in rows] == [second["run_id"]]  # the replaced run's row went with it


def test_a_model_other_than_the_checkpoints_is_refused(tones_folder, tmp_path):
    from workbench.train.pretrain import PretrainConfig, pretrain

    pretrain(PretrainConfig(dataset="stat_spectrum", model="nano", frames=32, steps=1, batch_size=2, device="cpu",
                            out_dir=str(tmp_path / "pre")), progress=False)
    with pytest.raises(ValueError, match="--model tiny conflicts with .*holds a nano model"):
        finetune(FinetuneConfig(task="folder", root=str(tones_folder), init=str(tmp_path / "pre"), model="tiny",
                                out_dir=str(tmp_path / "ft"), results_csv=None), progress=False)
    assert not (tmp_path / "ft").exists()


def test_one_long_file_does_not_pad_every_clip(tones_folder, tmp_path):
    """Before, a folder's clip length was its longest file: one 60 s file among 0.3 s clips padded
    every clip to 1024 frames and the probe fell from 1.0 to 0.5. Now the typical clip decides."""
    path = tones_folder / "train" / "class0" / "long.wav"
    sf.write(str(path), tone(TONES[0], seconds=60.0, seed=999), SR)
    m = finetune(FinetuneConfig(task="folder", root=str(tones_folder), model="nano", protocol="linear", epochs=30,
                                batch_size=8, device="cpu", out_dir=str(tmp_path / "lin"), results_csv=None),
                 progress=False)
    assert m["frames"] == 32 and m["test_accuracy"] >= 0.9


def test_folder_layouts_that_cannot_be_a_task_are_errors(tmp_path, monkeypatch):
    import os

    from workbench.audio.clips import AudioLoadError
    from workbench.audio.tasks import DatasetLayoutError

    one = tmp_path / "one"
    (one / "only").mkdir(parents=True)
    sf.write(str(one / "only" / "a.wav"), tone(300.0), SR)
    with pytest.raises(DatasetLayoutError, match=r"1 class sub-folder\(s\) \['only'\]; .* at least two"):
        tasks.load_task("folder", one)
    (one / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="the class folder 'empty' .* holds no audio files"):
        tasks.load_task("folder", one)
    locked = one / "empty" / "sub"
    locked.mkdir()
    sf.write(str(one / "empty" / "b.wav"), tone(900.0), SR)
    real_scandir = os.scandir

    def unreadable(path="."):  # what a folder without read permission does (tests run as root here)
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(locked))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", unreadable)
    with pytest.raises(AudioLoadError, match="cannot read the folder .*sub: Permission denied"):
        tasks.load_task("folder", one)


# ---- label fraction and evaluation schedule -----------------------------------------------------
def test_label_fraction_keeps_a_seeded_share_of_each_class(tones_folder):
    split = tasks.make_split("folder", root=tones_folder)
    small = split.with_label_fraction(0.25, seed=0)
    labels = [c.label for c in small.train.clips]
    assert sorted(labels) == [0, 0, 1, 1, 2, 2]  # 2 of 8 per class
    assert [c.path for c in split.with_label_fraction(0.25, seed=0).train.clips] == [c.path for c in small.train.clips]
    assert [c.path for c in split.with_label_fraction(0.25, seed=1).train.clips] != [c.path for c in small.train.clips]
    assert small.test is split.test and small.stats == split.stats  # only labels go, not test clips or statistics
    assert sorted(c.label for c in split.with_label_fraction(0.01, seed=0).train.clips) == [0, 1, 2]  # >= 1 each
    with pytest.raises(ValueError, match="label fraction must be in"):
        split.with_label_fraction(0.0, seed=0)


def test_label_fraction_and_eval_every_reach_the_run_and_its_rows(tones_folder, tmp_path):
    csv_path = tmp_path / "results.csv"
    m = finetune(FinetuneConfig(task="folder", root=str(tones_folder), model="nano", protocol="finetune", epochs=4,
                                eval_every=0, label_fraction=0.5, batch_size=4, device="cpu",
                                out_dir=str(tmp_path / "ft"), results_csv=str(csv_path)), progress=False)
    assert m["per_fold"][0]["n_train"] == 12
    assert ["test_accuracy" in r for r in m["history"]] == [False, False, False, True]
    assert all("train_accuracy" in r for r in m["history"])
    row = read_rows(csv_path)[0]
    assert float(row["label_fraction"]) == 0.5
