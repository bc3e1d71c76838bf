"""Downstream audio tasks: every loader on a tiny fake copy of its real layout (real WAV files,
real metadata formats), splits and folds, normalisation, errors, embedded tasks, audio pre-training."""

import csv
import json
import shutil
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
import torch

from workbench.audio import tasks as D
from workbench.audio.frontend import AudioLoadError

from fakes import make_esc50, write_wav

SR = 16_000


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.one_thread


def test_esc50_folds_frames_and_normalisation(tmp_path):
    root = make_esc50(tmp_path / "ESC-50-master")
    task = D.load_task("esc50", root)
    assert task.class_names == ["dog", "rain"] and task.folds == (1, 2, 3, 4, 5) and task.frames == 512
    split = D.make_split(task, fold=2)
    assert len(split.train) == 8 and len(split.test) == 2 and split.valid is None
    assert {c.group for c in split.test.clips} == {2} and 2 not in {c.group for c in split.train.clips}
    x, y = split.train[0]
    assert x.shape == (1, 128, 512) and y.dtype == torch.int64
    xs = torch.stack([split.train[i][0] for i in range(len(split.train))])
    # stats come from the training split, so it is normalised to mean 0, std 0.5 (AST convention)
    assert abs(float(xs.mean())) < 1e-3 and abs(float(xs.std()) - 0.5) < 1e-3
    with pytest.raises(ValueError, match="folds"):
        D.make_split(task, fold=7)
    with pytest.raises(ValueError, match="folds"):
        D.make_split(task, fold=None)


def test_urbansound8k_layout_and_missing_file(tmp_path):
    root = tmp_path / "UrbanSound8K"
    rows = []
    for fold in (1, 2, 3):
        for cid, cls in enumerate(["air_conditioner", "car_horn"]):
            name = f"{fold}{cid}-0-0-0.wav"
            write_wav(root / "audio" / f"fold{fold}" / name, freq=500 + 1000 * cid, seconds=0.3)
            rows.append([name, fold * 10 + cid, 0.0, 0.3, 1, fold, cid, cls])
    (root / "metadata").mkdir(parents=True)
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"])
        w.writerows(rows)
    task = D.load_task("urbansound8k", root)
    assert task.folds == (1, 2, 3) and task.frames == 400 and task.class_names == ["air_conditioner", "car_horn"]
    split = D.make_split(task, fold=3)
    assert len(split.test) == 2 and split.test[0][0].shape == (1, 128, 400)
    (root / "audio" / "fold2" / "20-0-0-0.wav").unlink()
    with pytest.raises(D.DatasetLayoutError, match="fold2/20-0-0-0.wav") as err:
        D.load_task("urbansound8k", root)
    assert "metadata/UrbanSound8K.csv" in str(err.value)  # the expected layout is quoted


def test_speechcommands_lists_and_background_noise(tmp_path):
    root = tmp_path / "speech_commands_v0.02"
    for w, word in enumerate(["no", "yes"]):
        for k in range(3):
            write_wav(root / word / f"abc{k}_nohash_0.wav", freq=400 + 800 * w, seconds=1.0)
    write_wav(root / "_background_noise_" / "white_noise.wav")
    (root / "validation_list.txt").write_text("no/abc1_nohash_0.wav\nyes/abc1_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("no/abc2_nohash_0.wav\nyes/abc2_nohash_0.wav\n")
    task = D.load_task("speechcommands", root)
    assert task.class_names == ["no", "yes"] and task.folds is None and task.frames == 112
    parts = task.split_indices()
    assert {k: len(v) for k, v in parts.items()} == {"train": 2, "valid": 2, "test": 2}
    assert all("_background_noise_" not in c.key for c in task.clips)
    split = D.make_split(task)
    assert split.valid is not None and split.valid[0][0].shape == (1, 128, 112)
    with pytest.raises(ValueError, match="fixed train/test splits"):
        D.make_split(task, fold=1)


def test_gtzan_ten_stratified_folds(tmp_path):
    root = tmp_path / "GTZAN"
    for g, genre in enumerate(["blues", "rock"]):
        for i in range(10):
            write_wav(root / "genres" / genre / f"{genre}.{i:05d}.wav", freq=200 + 300 * g, seconds=0.1)
    task = D.load_task("gtzan", root)
    assert task.folds == tuple(range(1, 11)) and task.frames == 3008
    for fold in task.folds:  # each fold holds one clip of each genre
        assert sorted(task.clips[i].label for i in task.split_indices(fold)["test"]) == [0, 1]


def test_cremad_emotion_from_filename_and_actor_folds(tmp_path):
    audio = tmp_path / "CREMA-D" / "AudioWAV"
    for actor in (1001, 1002, 1006):
        for emo in ("ANG", "SAD", "NEU"):
            write_wav(audio / f"{actor}_DFA_{emo}_XX.wav", seconds=0.2)
    task = D.load_task("cremad", tmp_path / "CREMA-D")
    assert task.class_names == ["anger", "disgust", "fear", "happy", "neutral", "sad"]
    by_key = {c.key: c for c in task.clips}
    assert by_key["1002_DFA_SAD_XX.wav"].label == 5 and by_key["1002_DFA_SAD_XX.wav"].group == 2
    assert by_key["1006_DFA_ANG_XX.wav"].group == by_key["1001_DFA_NEU_XX.wav"].group == 1  # same fold, by actor
    write_wav(audio / "notes.wav")
    with pytest.raises(D.DatasetLayoutError, match="notes.wav"):
        D.load_task("cremad", tmp_path / "CREMA-D")


def test_nsynth_instrument_family_and_splits(tmp_path):
    root = tmp_path / "nsynth"
    for split, fams in (("train", [0, 3, 3]), ("valid", [0]), ("test", [3])):
        meta = {}
        for k, fam in enumerate(fams):
            note = f"{D.NSYNTH_FAMILIES[fam]}_acoustic_{k:03d}-060-100"
            meta[note] = {"note_str": note, "instrument_family": fam,
                          "instrument_family_str": D.NSYNTH_FAMILIES[fam], "pitch": 60, "velocity": 100}
            write_wav(root / f"nsynth-{split}" / "audio" / f"{note}.wav", seconds=0.2)
        (root / f"nsynth-{split}" / "examples.json").write_text(json.dumps(meta))
    task = D.load_task("nsynth", root)
    assert task.num_classes == 11 and task.frames == 400
    split = D.make_split(task)
    assert (len(split.train), len(split.valid), len(split.test)) == (3, 1, 1)
    assert split.train.targets().tolist() == [0, 3, 3] and split.test.targets().tolist() == [3]


def test_voxceleb1_iden_split(tmp_path):
    root = tmp_path / "VoxCeleb1"
    lines = []
    for s, spk in enumerate(["id10001", "id10002"]):
        for k, code in enumerate("1123"):
            rel = f"{spk}/vid{k}/{k:05d}.wav"
            write_wav(root / "wav" / rel, freq=150 + 100 * s, seconds=0.2)
            lines.append(f"{code} {rel}")
    (root / "iden_split.txt").write_text("\n".join(lines) + "\n")
    task = D.load_task("voxceleb1", root)
    assert task.class_names == ["id10001", "id10002"] and task.frames == 800
    assert {k: len(v) for k, v in task.split_indices().items()} == {"train": 4, "valid": 2, "test": 2}
    (root / "iden_split.txt").write_text("4 id10001/vid0/00000.wav\n")
    with pytest.raises(D.DatasetLayoutError, match="line 1"):
        D.load_task("voxceleb1", root)


def test_folder_with_and_without_split_levels(tmp_path):
    flat = tmp_path / "flat"
    for c, cls in enumerate(["bird", "car", "dog"]):
        for k in range(5):
            write_wav(flat / cls / f"{k}.wav", freq=300 + 700 * c, seconds=0.5, seed=k)
    task = D.load_task("folder", flat, seed=3)
    assert task.class_names == ["bird", "car", "dog"] and task.frames == 48  # 0.5 s: 48 frames, a multiple of 16
    parts = task.split_indices()
    assert Counter(task.clips[i].label for i in parts["test"]) == {0: 1, 1: 1, 2: 1}  # 20% of each class
    again = D.load_task("folder", flat, seed=3)
    assert [c.key for c in again.clips] == [c.key for c in task.clips]  # split is a function of the seed
    other = D.load_task("folder", flat, seed=4)
    assert {c.key for c in other.clips if c.group == "test"} != {c.key for c in task.clips if c.group == "test"}

    nested = tmp_path / "nested"
    for s in ("train", "test"):
        for c, cls in enumerate(["a", "b"]):
            write_wav(nested / s / cls / f"{s}.flac", seconds=0.2)
    task = D.load_task("folder", nested)
    assert {k: len(v) for k, v in task.split_indices().items()} == {"train": 2, "test": 2}
    assert task.class_names == ["a", "b"]


def test_missing_root_and_metadata_errors_name_path_and_layout(tmp_path):
    with pytest.raises(D.DatasetLayoutError, match="does not exist") as err:
        D.load_task("esc50", tmp_path / "nowhere")
    assert "nowhere" in str(err.value) and "meta/esc50.csv" in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(D.DatasetLayoutError, match="esc50.csv"):
        D.load_task("esc50", tmp_path / "empty")
    with pytest.raises(ValueError, match="--root"):
        D.load_task("gtzan")
    with pytest.raises(D.DatasetLayoutError, match="genres"):
        D.load_task("gtzan", tmp_path / "empty")
    with pytest.raises(KeyError, match="esc50"):
        D.load_task("esc5O")


def test_corrupt_wav_raises_error_naming_the_file(tmp_path):
    root = make_esc50(tmp_path / "esc")
    bad = root / "audio" / "3-100-A-0.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    split = D.make_split("esc50", root=root, fold=3)  # the bad file is in the held-out fold
    i = next(i for i, c in enumerate(split.test.clips) if c.path == bad)
    with pytest.raises(AudioLoadError, match="3-100-A-0.wav"):
        split.test[i]


def test_corrupt_wav_in_training_split_fails_when_stats_are_computed(tmp_path):
    root = make_esc50(tmp_path / "esc")
    (root / "audio" / "2-101-A-0.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioLoadError, match="2-101-A-0.wav"):
        D.make_split("esc50", root=root, fold=1)


def test_log_mels_are_cached_in_memory(tmp_path, monkeypatch):
    import workbench.audio.clips as mod

    root = make_esc50(tmp_path / "esc")
    split = D.make_split("esc50", root=root, fold=1)
    first = [split.test[i][0] for i in range(len(split.test))]
    calls = []
    monkeypatch.setattr(mod, "load_audio", lambda p: calls.append(p) or torch.zeros(SR))
    assert all(torch.equal(split.test[i][0], x) for i, x in enumerate(first)) and split.train[0] is not None
    assert calls == []  # nothing was decoded twice


# ---- embedded tasks ---------------------------------------------------------------------------
def test_synth_sounds_task_is_deterministic_and_balanced():
    pytest.importorskip("workbench.audio.synth_sounds")
    from workbench.audio.synth_sounds import make_synth_sounds

    waves, labels, names = make_synth_sounds("test", n_per_class=3, seed=5)
    waves2, labels2, _ = make_synth_sounds("test", n_per_class=3, seed=5)
    assert len(names) >= 10 and torch.equal(waves, waves2) and torch.equal(labels, labels2)
    assert Counter(labels.tolist()) == {c: 3 for c in range(len(names))}
    assert waves.shape[1] == SR and not torch.equal(waves, make_synth_sounds("train", n_per_class=3, seed=5)[0])
    task = D.load_task("synth_sounds", n_per_class=2)
    assert task.frames == 112 and task.num_classes == len(names)
    assert Counter(c.group for c in task.clips) == {"train": 2 * len(names), "test": 2 * len(names)}
    assert torch.equal(task.clips[-1].wave, D.load_task("synth_sounds", n_per_class=2).clips[-1].wave)


def test_spoken_digits_says_how_to_install_espeak(monkeypatch, tmp_path):
    from workbench.audio import spoken_digits as sd

    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH, nothing cached
    with pytest.raises(sd.EspeakNotFound, match="apt-get install espeak-ng"):
        sd.make_spoken_digits(variants=("m1", "f2"), renditions=1, accents_per_variant=1)


def test_spoken_digit_voices_split_by_variant():
    from workbench.audio import spoken_digits as sd

    train, test = sd.voices(seed=0)
    assert len(train) == 30 and len(test) == 10
    variant = lambda v: v.split("+")[1]  # noqa: E731
    assert not {variant(v) for v in train} & {variant(v) for v in test}  # test speakers are unseen
    assert sd.voices(seed=0) == (train, test) and sd.voices(seed=1) != (train, test)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_spoken_digits_render_cache_and_task(tmp_path):
    from workbench.audio import spoken_digits as sd

    small = dict(variants=("m1", "f2"), renditions=1, accents_per_variant=1)
    items = sd.make_spoken_digits(root=tmp_path / "a", **small)
    assert len(items) == 20 and Counter(it.label for it in items) == {d: 2 for d in range(10)}
    test_voices = {it.voice for it in items if it.split == "test"}
    assert len(test_voices) == 1 and test_voices.isdisjoint({it.voice for it in items if it.split == "train"})
    wave, sr = sf.read(str(items[0].path))
    assert sr == SR and wave.shape == (SR,)
    # the cache is reused, not re-rendered
    mtime = items[0].path.stat().st_mtime_ns
    assert [it.path for it in sd.make_spoken_digits(root=tmp_path / "a", **small)] == [it.path for it in items]
    assert items[0].path.stat().st_mtime_ns == mtime

    # the registered task renders the same clips afresh into $WORKBENCH_CACHE: rendering is deterministic
    split = D.make_split(D.load_task("spoken_digits", **small))
    assert split.task.class_names == list(sd.DIGITS) and split.frames == 112
    assert (len(split.train), len(split.test)) == (10, 10) and split.train[0][0].shape == (1, 128, 112)
    fresh = split.train.clips[3].path
    assert fresh != items[3].path and np.array_equal(sf.read(str(fresh))[0], sf.read(str(items[3].path))[0])
