"""Predictions from a classifier saved by finetune: the same numbers as its evaluation, windows
for long files, fold selection, weights-only loading, and the CLI."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from workbench import checkpoint
from workbench.audio.frontend import crop_or_pad, fbank, load_audio, normalize
from workbench.cli import main
from workbench.predict import load_classifier, predict
from workbench.train.finetune import FinetuneConfig, finetune
from workbench.train.pretrain import PretrainConfig, pretrain

from fakes import make_tone_task, tone

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.one_thread

SR = 16_000


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    """A nano encoder pre-trained for 2 steps, linearly probed on three tone heights (6 train + 3
    test clips each, 0.3 s) with save_model=True. Returns (fine-tuning folder, tones folder)."""
    base = tmp_path_factory.mktemp("predict")
    root = make_tone_task(base / "tones", n_train=6, n_test=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        pretrain(PretrainConfig(dataset="stat_spectrum", model="nano", frames=32, steps=2, batch_size=2,
                                device="cpu", out_dir=str(base / "run")), progress=False)
        finetune(FinetuneConfig(task="folder", root=str(root), init=str(base / "run"), epochs=20, batch_size=6,
                                device="cpu", save_model=True, out_dir=str(base / "ft"), results_csv=None),
                 progress=False)
    return base / "ft", root


def test_predictions_on_the_test_files_reproduce_the_saved_test_accuracy(finetuned):
    ft, root = finetuned
    metrics = json.loads((ft / "metrics.json").read_text())
    files = sorted((root / "test").rglob("*.wav"))
    preds = predict(files, classifier=ft, top_k=1)
    assert [p.path for p in preds] == [str(f) for f in files]
    correct = [p.top[0][0] == f.parent.name for p, f in zip(preds, files)]
    assert np.mean(correct) == pytest.approx(metrics["test_accuracy"])


def test_top_k_classes_come_with_probabilities_most_probable_first(finetuned):
    ft, root = finetuned
    wav = root / "test" / "class2" / "0.wav"
    (top2,) = predict([wav], classifier=ft, top_k=2)
    (every,) = predict(wav, classifier=ft / "classifier_foldnone.pt", top_k=10)  # clamped to the 3 classes
    assert [name for name, _ in every.top][:2] == [name for name, _ in top2.top] and len(every.top) == 3
    probs = [p for _, p in every.top]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0)
    assert {name for name, _ in every.top} == {"class0", "class1", "class2"}
    with pytest.raises(ValueError, match=r"top_k must be >= 1"):
        predict([wav], classifier=ft, top_k=0)


def test_a_long_file_averages_the_logits_of_its_windows(finetuned, tmp_path):
    ft, _ = finetuned
    clf = load_classifier(ft)
    long = tmp_path / "long.wav"
    sf.write(str(long), np.concatenate([tone(300.0, seconds=0.5), tone(4000.0, seconds=0.6)]), SR)
    spec = fbank(load_audio(long))  # 108 frames: windows of 32, 32, 32 and 12 (zero-padded)
    frames = clf.frames
    windows = torch.stack([normalize(crop_or_pad(spec[k:k + frames], frames).T[None], clf.stats)
                           for k in range(0, spec.shape[0], frames)])
    with torch.no_grad():
        expected = clf.model(windows).mean(dim=0).softmax(dim=0)
    (pred,) = predict([long], classifier=ft, top_k=3, batch_size=3)
    got = dict(pred.top)
    assert len(windows) == 4
    for i, name in enumerate(clf.class_names):
        assert got[name] == pytest.approx(float(expected[i]), abs=1e-6)


def test_several_folds_need_a_choice_that_names_them(finetuned, tmp_path):
    ft, root = finetuned
    folds = tmp_path / "cv"
    folds.mkdir()
    for f in (1, 2):
        shutil.copy(ft / "classifier_foldnone.pt", folds / f"classifier_fold{f}.pt")
    wav = root / "test" / "class0" / "0.wav"
    with pytest.raises(ValueError, match=r"several folds \(1, 2\): choose one with --fold"):
        predict([wav], classifier=folds)
    assert predict([wav], classifier=folds, fold=2) == predict([wav], classifier=ft)
    with pytest.raises(FileNotFoundError, match=r"no classifier for fold 3; folds saved there: 1, 2"):
        predict([wav], classifier=folds, fold="3")


def test_what_is_not_a_saved_classifier_is_refused_by_name(finetuned, tmp_path):
    ft, root = finetuned
    wav = root / "test" / "class0" / "0.wav"
    run = ft.parent / "run"
    with pytest.raises(FileNotFoundError, match=r"run holds no classifier_fold\*.pt \(it holds a pre-training run"):
        predict([wav], classifier=run)
    with pytest.raises(checkpoint.CheckpointError, match=r"checkpoint.pt is not a workbench fine-tuned classifier"):
        predict([wav], classifier=run / "checkpoint.pt")


class _Payload:
    """Unpickling this writes a file: proof that code from the file ran."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_classifier_file_is_read_weights_only(finetuned, tmp_path):
    ft, root = finetuned
    saved = torch.load(ft / "classifier_foldnone.pt", weights_only=True)
    marker = tmp_path / "payload_ran"
    evil = tmp_path / "classifier_foldnone.pt"
    torch.save({**saved, "extra": _Payload(str(marker))}, evil)
    with pytest.raises(checkpoint.CheckpointError, match=r"refused to load .*classifier_foldnone.pt"):
        predict([root / "test" / "class0" / "0.wav"], classifier=tmp_path)
    assert not marker.exists()


def test_cli_predict_prints_top_classes_per_file_and_one_line_errors(finetuned, tmp_path, capsys):
    ft, root = finetuned
    a, b = root / "test" / "class0" / "0.wav", root / "test" / "class1" / "1.wav"
    assert main(["predict", str(a), str(b), "--classifier", str(ft), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{a}: ") and lines[1].startswith(f"{b}: ")
    assert all(line.split(": ", 1)[1].count("class") == 2 for line in lines)  # "class2 0.712, class0 0.201"
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    assert main(["predict", str(bad), "--classifier", str(ft)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot read audio file") and "bad.wav" in err and len(err.splitlines()) == 1
