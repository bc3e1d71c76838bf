"""Downstream audio tasks, registered by name, read from local copies in their public layouts.

>>> from workbench.audio import tasks
>>> split = tasks.make_split("esc50", root="~/data/ESC-50-master", fold=5)
>>> x, y = split.train[0]  # x: [1, 128, 512] normalised log-mel, y: int64 class id

Nothing is ever downloaded. A task resolves to a :class:`TaskData` (a list of :class:`Clip`s, the
class names, the conventional clip length, and how it splits), and :func:`make_split` turns it into
train / (valid) / test :class:`AudioClipDataset`s that share one :class:`NormStats` computed by
:func:`~workbench.audio.frontend.compute_norm_stats` on the training split.

Registered tasks (``names()``), with the layout each expects under ``root``::

    task            layout under root                                classes  split              frames
    esc50           meta/esc50.csv, audio/*.wav                      50       5 folds            512
    urbansound8k    metadata/UrbanSound8K.csv, audio/fold1..10/      10       10 folds           400
    speechcommands  <word>/*.wav, validation_list.txt, testing_list  35       train/valid/test   112
    gtzan           genres/<genre>/*.wav                             10       10 folds           3008
    cremad          AudioWAV/<actor>_<sentence>_<EMO>_<level>.wav    6        5 folds by actor   512
    nsynth          nsynth-{train,valid,test}/examples.json, audio/  11       train/valid/test   400
    voxceleb1       iden_split.txt, wav/id<speaker>/<video>/*.wav        1251     train/valid/test   800
    folder          <class>/*.wav, or train/<class>/, test/<class>/  any      given, or seeded   <= 1024
    synth_sounds    embedded: procedurally synthesised events        >= 10    train/test         112
    spoken_digits   embedded: espeak-ng digits, cached as WAV        10       by unseen voice    112

Clip lengths follow each dataset's convention (ESC-50 5 s, UrbanSound8K 4 s, Speech Commands 1 s,
GTZAN 30 s, NSynth 4 s); where there is none we chose one and say so in the loader's docstring.
Frames are the 10 ms Kaldi frames of that length rounded up to a multiple of 16, so both patch
(16 x 16) and frame (128 x 2) tokens tile the input. Longer clips are cut at the start (AST),
shorter ones zero-padded in the log-mel domain (AST), by the front-end's ``crop_or_pad``.

Clips, their log-mel cache and the dataset class live in :mod:`workbench.audio.clips`; the same
log-mels serve MAE pre-training on audio (``pretrain --dataset audio:SPEC``) through
:mod:`workbench.sources.audio`, so pattern and audio pre-training are compared like for like.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from workbench.audio.clips import (
    AUDIO_SUFFIXES, AudioClipDataset, Clip, audio_files, clip_frames, norm_stats,
)
from workbench.audio.frontend import AudioLoadError, NormStats
from workbench.registry import Registry

MAX_FOLDER_FRAMES = 1024  # cap for a folder's clip length (AudioSet's 10.24 s)


class DatasetLayoutError(FileNotFoundError):
    """A task's root or one of its files is missing; the message names the path and the layout."""


@dataclass
class TaskData:
    """A resolved task: clips, class names, conventional length, and its split convention.

    ``folds`` lists the fold ids of a cross-validated task (clips' ``group``), or is None when the
    clips carry split names (``"train"``, ``"valid"``, ``"test"``).
    """

    name: str
    clips: list[Clip]
    class_names: list[str]
    frames: int
    folds: tuple[int, ...] | None = None
    multilabel: bool = False
    root: Path | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split_indices(self, fold: int | None = None) -> dict[str, list[int]]:
        """Clip indices per split. Cross-validated tasks: ``fold`` is held out as ``test`` and the
        other folds train (no ``valid``). Other tasks take their own split (``fold`` must be None)."""
        if self.folds is None:
            if fold is not None:
                raise ValueError(f"task {self.name!r} has fixed train/test splits, not folds; got fold={fold!r}")
            out: dict[str, list[int]] = {}
            for i, c in enumerate(self.clips):
                out.setdefault(str(c.group), []).append(i)
        else:
            if fold not in self.folds:
                raise ValueError(f"task {self.name!r} has folds {list(self.folds)}; got fold={fold!r}")
            out = {"train": [i for i, c in enumerate(self.clips) if c.group != fold],
                   "test": [i for i, c in enumerate(self.clips) if c.group == fold]}
        for name in ("train", "test"):
            if not out.get(name):
                raise ValueError(f"task {self.name!r} has no {name} clips (root {self.root}); splits found: "
                                 f"{ {k: len(v) for k, v in out.items()} }")
        return out


@dataclass
class Split:
    """Train / test (and, where the task has one, valid) datasets sharing one :class:`NormStats`."""

    task: TaskData
    fold: int | None
    train: AudioClipDataset
    test: AudioClipDataset
    valid: AudioClipDataset | None
    stats: NormStats

    @property
    def frames(self) -> int:
        return self.train.frames

    def with_label_fraction(self, fraction: float, *, seed: int) -> "Split":
        """The split with only ``fraction`` of the training clips of each class kept (at least one
        per class; seeded, so every method evaluated with the same seed sees the same clips), the
        usual semi-supervised protocol (1% / 10% of the labels). The normalisation statistics stay
        those of the whole training split: its audio is there, only the labels are not. Multi-label
        tasks keep a seeded ``fraction`` of all clips."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
        if fraction == 1.0:
            return self
        rng = random.Random(f"{seed}-{self.task.name}-{self.fold}")
        groups: dict = {}
        for i, clip in enumerate(self.train.clips):
            groups.setdefault(0 if self.task.multilabel else clip.label, []).append(i)
        keep = sorted(i for idx in groups.values() for i in rng.sample(idx, max(1, round(fraction * len(idx)))))
        train = AudioClipDataset([self.train.clips[i] for i in keep], frames=self.train.frames, stats=self.stats,
                                 num_classes=self.train.num_classes, multilabel=self.train.multilabel)
        return Split(self.task, self.fold, train, self.test, self.valid, self.stats)


def make_split(task: str | TaskData, *, root: str | Path | None = None, fold: int | None = None,
               frames: int | None = None, seed: int = 0) -> Split:
    """Datasets for one evaluation: ``fold`` is the held-out fold of a cross-validated task (None
    for tasks with fixed splits); ``frames`` overrides the task's clip length; ``seed`` is the
    task's data seed (split of an unsplit folder, parameters of embedded tasks)."""
    data = task if isinstance(task, TaskData) else load_task(task, root, seed=seed)
    frames = frames or data.frames
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    parts = data.split_indices(fold)
    unknown = sorted(set(parts) - {"train", "valid", "test"})
    if unknown:
        raise ValueError(f"task {data.name!r} has clips in unknown splits {unknown}")
    clips = {k: [data.clips[i] for i in v] for k, v in parts.items()}
    key = (data.name, str(data.root), fold, frames, len(clips["train"]), clips["train"][0].key, seed)
    stats = norm_stats(clips["train"], frames=frames, cache_key=key)

    def ds(name: str) -> AudioClipDataset:
        return AudioClipDataset(clips[name], frames=frames, stats=stats, num_classes=data.num_classes,
                                multilabel=data.multilabel)

    return Split(data, fold, ds("train"), ds("test"), ds("valid") if clips.get("valid") else None, stats)


# ---- registry -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskSpec:
    name: str
    load: Callable[..., TaskData]  # load(root: Path | None, *, seed: int) -> TaskData
    description: str
    layout: str  # the expected on-disk layout, quoted in errors ("" for embedded tasks)
    needs_root: bool = True


TASKS: Registry[TaskSpec] = Registry("task")


def register_task(name: str, *, description: str, layout: str = "", needs_root: bool = True
                  ) -> Callable[[Callable[..., TaskData]], Callable[..., TaskData]]:
    """Decorator registering ``load(root, *, seed) -> TaskData`` under ``name``."""

    def deco(fn: Callable[..., TaskData]) -> Callable[..., TaskData]:
        TASKS.add(name, TaskSpec(name, fn, description, layout, needs_root))
        return fn

    return deco


def names() -> list[str]:
    return TASKS.names()


def get(name: str) -> TaskSpec:
    return TASKS.get(name)


def load_task(name: str, root: str | Path | None = None, *, seed: int = 0, **options) -> TaskData:
    """Resolve task ``name`` (see :func:`names`) on a local copy at ``root``. ``options`` go to
    the task's loader (sizes of the embedded tasks, e.g. ``n_per_class`` for ``synth_sounds``)."""
    spec = get(name)
    if spec.needs_root:
        if root is None or str(root) == "":
            raise ValueError(f"task {name!r} reads a local copy: pass its root folder (--root DIR). "
                             f"Expected layout:\n{spec.layout}")
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DatasetLayoutError(f"{name} root {root} does not exist or is not a folder. "
                                     f"Expected layout:\n{spec.layout}")
    elif root is not None and str(root) != "":
        raise ValueError(f"task {name!r} is embedded and takes no root; got root={root!r}")
    else:
        root = None
    return spec.load(root, seed=seed, **options)


def _need(path: Path, task: str) -> Path:
    if not path.exists():
        raise DatasetLayoutError(f"{task}: expected {path}, which does not exist. Expected layout:\n"
                                 f"{get(task).layout}")
    return path


def _read_csv(path: Path, task: str, columns: Sequence[str]) -> list[dict[str, str]]:
    with open(_need(path, task), newline="") as f:
        rows = list(csv.DictReader(f))
    missing = sorted(set(columns) - set(rows[0] if rows else ()))
    if missing:
        raise DatasetLayoutError(f"{task}: {path} lacks the columns {missing} (or has no rows). "
                                 f"Expected layout:\n{get(task).layout}")
    return rows


# ---- real datasets ------------------------------------------------------------------------------
ESC50_LAYOUT = """ESC-50/                       (github.com/karolpiczak/ESC-50)
  meta/esc50.csv                columns filename,fold,target,category,...
  audio/<filename>.wav          2000 five-second clips, folds 1-5"""


@register_task("esc50", description="ESC-50 environmental sounds: 50 classes, 5 s, 5 folds",
               layout=ESC50_LAYOUT)
def _load_esc50(root: Path, *, seed: int = 0) -> TaskData:
    rows = _read_csv(root / "meta" / "esc50.csv", "esc50", ("filename", "fold", "target", "category"))
    names_by_id = {int(r["target"]): r["category"] for r in rows}
    clips = [Clip(r["filename"], int(r["target"]), int(r["fold"]), path=_need(root / "audio" / r["filename"], "esc50"))
             for r in rows]
    return TaskData("esc50", clips, [names_by_id[i] for i in sorted(names_by_id)], clip_frames(5.0),
                    folds=tuple(sorted({c.group for c in clips})), root=root)


US8K_LAYOUT = """UrbanSound8K/
  metadata/UrbanSound8K.csv     columns slice_file_name,fsID,start,end,salience,fold,classID,class
  audio/fold1 ... audio/fold10/<slice_file_name>   8732 clips of <= 4 s"""


@register_task("urbansound8k", description="UrbanSound8K urban sounds: 10 classes, <= 4 s, 10 folds",
               layout=US8K_LAYOUT)
def _load_urbansound8k(root: Path, *, seed: int = 0) -> TaskData:
    rows = _read_csv(root / "metadata" / "UrbanSound8K.csv", "urbansound8k",
                     ("slice_file_name", "fold", "classID", "class"))
    names_by_id = {int(r["classID"]): r["class"] for r in rows}
    clips = [Clip(r["slice_file_name"], int(r["classID"]), int(r["fold"]),
                  path=_need(root / "audio" / f"fold{int(r['fold'])}" / r["slice_file_name"], "urbansound8k"))
             for r in rows]
    return TaskData("urbansound8k", clips, [names_by_id[i] for i in sorted(names_by_id)], clip_frames(4.0),
                    folds=tuple(sorted({c.group for c in clips})), root=root)


SPEECHCOMMANDS_LAYOUT = """speech_commands_v0.02/
  validation_list.txt, testing_list.txt   lines like 'yes/0a7c2a8d_nohash_0.wav'
  <word>/*.wav                            35 word folders, 1 s clips (train = not in either list)
  _background_noise_/                     ignored"""


@register_task("speechcommands", description="Speech Commands v2 keyword spotting: 35 words, 1 s, "
               "official train/valid/test lists", layout=SPEECHCOMMANDS_LAYOUT)
def _load_speechcommands(root: Path, *, seed: int = 0) -> TaskData:
    lists = {}
    for split, fname in (("valid", "validation_list.txt"), ("test", "testing_list.txt")):
        lines = _need(root / fname, "speechcommands").read_text().split()
        lists.update({line.strip(): split for line in lines if line.strip()})
    words = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    if not words:
        raise DatasetLayoutError(f"speechcommands: no word folders in {root}. Expected layout:\n"
                                 f"{SPEECHCOMMANDS_LAYOUT}")
    clips = []
    for label, word in enumerate(words):
        for p in sorted((root / word).glob("*.wav")):
            rel = f"{word}/{p.name}"
            clips.append(Clip(rel, label, lists.get(rel, "train"), path=p))
    return TaskData("speechcommands", clips, words, clip_frames(1.0), root=root)


GTZAN_LAYOUT = """GTZAN/
  genres/<genre>/<genre>.000NN.wav (or .au; 'genres_original/' as in the Kaggle copy)
                                10 genres x 100 thirty-second clips"""


@register_task("gtzan", description="GTZAN music genres: 10 classes, 30 s, 10 folds (file order)",
               layout=GTZAN_LAYOUT)
def _load_gtzan(root: Path, *, seed: int = 0) -> TaskData:
    """GTZAN has no official split; papers use 10-fold CV. Fold of the i-th file of a genre (sorted
    by name) is ``i % 10 + 1``, a fixed stratified assignment. It is not artist-filtered
    (Sturm 2013), so expect optimistic numbers."""
    base = next((root / d for d in ("genres", "genres_original") if (root / d).is_dir()), None)
    if base is None:
        raise DatasetLayoutError(f"gtzan: expected {root / 'genres'}, which does not exist. "
                                 f"Expected layout:\n{GTZAN_LAYOUT}")
    genres = sorted(p.name for p in base.iterdir() if p.is_dir())
    clips = []
    for label, genre in enumerate(genres):
        for i, p in enumerate(audio_files(base / genre)):
            clips.append(Clip(f"{genre}/{p.name}", label, i % 10 + 1, path=p))
    if not clips:
        raise DatasetLayoutError(f"gtzan: no audio files under {base}. Expected layout:\n{GTZAN_LAYOUT}")
    return TaskData("gtzan", clips, genres, clip_frames(30.0), folds=tuple(sorted({c.group for c in clips})),
                    root=root)


CREMAD_EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral",
                   "SAD": "sad"}
CREMAD_LAYOUT = """CREMA-D/
  AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav   e.g. 1001_DFA_ANG_XX.wav,
                                emotion one of ANG DIS FEA HAP NEU SAD, actors 1001-1091"""


@register_task("cremad", description="CREMA-D emotion: 6 classes, 5 speaker-independent folds",
               layout=CREMAD_LAYOUT)
def _load_cremad(root: Path, *, seed: int = 0) -> TaskData:
    """Folds are by actor, ``(actor - 1001) % 5 + 1``, so test speakers are unseen (choice: CREMA-D
    has no official split; HEAR also uses 5 folds). Clip length 5 s (clips are 1-5 s)."""
    emotions = sorted(CREMAD_EMOTIONS)
    clips = []
    for p in audio_files(_need(root / "AudioWAV", "cremad")):
        parts = p.stem.split("_")
        if len(parts) != 4 or parts[2] not in CREMAD_EMOTIONS or not parts[0].isdigit():
            raise DatasetLayoutError(f"cremad: cannot parse emotion from file name {p}. Expected layout:\n"
                                     f"{CREMAD_LAYOUT}")
        clips.append(Clip(p.name, emotions.index(parts[2]), (int(parts[0]) - 1001) % 5 + 1, path=p))
    if not clips:
        raise DatasetLayoutError(f"cremad: no audio files in {root / 'AudioWAV'}. Expected layout:\n{CREMAD_LAYOUT}")
    return TaskData("cremad", clips, [CREMAD_EMOTIONS[e] for e in emotions], clip_frames(5.0),
                    folds=tuple(sorted({c.group for c in clips})), root=root)


NSYNTH_FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string",
                   "synth_lead", "vocal")
NSYNTH_LAYOUT = """nsynth/
  nsynth-train/examples.json    {note_str: {"instrument_family": 0-10, ...}, ...}
  nsynth-train/audio/<note_str>.wav   (likewise nsynth-valid/, nsynth-test/), 4 s notes"""


@register_task("nsynth", description="NSynth instrument family: 11 classes, 4 s, official splits",
               layout=NSYNTH_LAYOUT)
def _load_nsynth(root: Path, *, seed: int = 0) -> TaskData:
    clips = []
    for split in ("train", "valid", "test"):
        folder = root / f"nsynth-{split}"
        with open(_need(folder / "examples.json", "nsynth")) as f:
            meta = json.load(f)
        for note in sorted(meta):
            fam = meta[note].get("instrument_family")
            if not isinstance(fam, int) or not 0 <= fam < len(NSYNTH_FAMILIES):
                raise DatasetLayoutError(f"nsynth: {folder / 'examples.json'} entry {note!r} has "
                                         f"instrument_family={fam!r}, expected an int in 0..10")
            clips.append(Clip(f"{split}/{note}", fam, split, path=_need(folder / "audio" / f"{note}.wav", "nsynth")))
    return TaskData("nsynth", clips, list(NSYNTH_FAMILIES), clip_frames(4.0), root=root)


VOXCELEB1_LAYOUT = """VoxCeleb1/
  iden_split.txt                lines '<1|2|3> id<speaker>/<video>/<NNNNN>.wav' (1 train, 2 valid, 3 test)
  wav/id<speaker>/<video>/NNNNN.wav 1251 speakers"""


@register_task("voxceleb1", description="VoxCeleb1 speaker identification: 1251 speakers, official "
               "iden_split", layout=VOXCELEB1_LAYOUT)
def _load_voxceleb1(root: Path, *, seed: int = 0) -> TaskData:
    """Clip length 8 s (choice: the mean utterance is ~8 s; longer ones are cut at the start)."""
    split_names = {"1": "train", "2": "valid", "3": "test"}
    entries = []
    for n, line in enumerate(_need(root / "iden_split.txt", "voxceleb1").read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in split_names:
            raise DatasetLayoutError(f"voxceleb1: {root / 'iden_split.txt'} line {n} is {line!r}; "
                                     f"expected '<1|2|3> id<speaker>/<video>/<NNNNN>.wav'")
        entries.append((split_names[parts[0]], parts[1]))
    speakers = sorted({rel.split("/")[0] for _, rel in entries})
    index = {s: i for i, s in enumerate(speakers)}
    clips = [Clip(rel, index[rel.split("/")[0]], split, path=_need(root / "wav" / rel, "voxceleb1"))
             for split, rel in entries]
    return TaskData("voxceleb1", clips, speakers, clip_frames(8.0), root=root)


FOLDER_LAYOUT = """<root>/<class>/*.{wav,flac,ogg,...}            (split seeded: 20% of each class is test)
or <root>/train/<class>/..., <root>/test/<class>/...   (optional <root>/valid/<class>/...)"""
FOLDER_TEST_FRACTION = 0.2


@register_task("folder", description="any one-sub-folder-per-class tree of audio files",
               layout=FOLDER_LAYOUT)
def _load_folder(root: Path, *, seed: int = 0) -> TaskData:
    """Classes are the sorted sub-folder names (at least two, none empty). With ``train/`` and
    ``test/`` levels those splits are used; otherwise each class is shuffled with ``seed`` and 20%
    (at least one clip when it has two or more) is held out. Clip length: the median clip (the
    typical one: a single long file cannot pad every clip), rounded up to a multiple of 16 frames
    and at most 10.24 s (1024 frames); longer clips are cut, shorter ones padded."""
    has_splits = (root / "train").is_dir() and (root / "test").is_dir()
    split_dirs = [root / s for s in ("train", "valid", "test") if (root / s).is_dir()] if has_splits else [root]
    classes = sorted({p.name for d in split_dirs for p in _subfolders(d)})
    if len(classes) < 2:
        raise DatasetLayoutError(f"folder: {root} has {len(classes)} class sub-folder(s) {classes}; a classification "
                                 f"task needs at least two. Expected layout:\n{FOLDER_LAYOUT}")
    clips: list[Clip] = []
    rng = random.Random(seed)
    for label, cls in enumerate(classes):
        if has_splits:
            found = {d.name: audio_files(d / cls) if (d / cls).is_dir() else [] for d in split_dirs}
            clips += [Clip(str(p.relative_to(root)), label, split, path=p) for split, files in found.items()
                      for p in files]
            files = [p for f in found.values() for p in f]
        else:
            files = audio_files(root / cls)
            shuffled = list(files)
            rng.shuffle(shuffled)
            n_test = int(round(len(shuffled) * FOLDER_TEST_FRACTION)) or (1 if len(shuffled) >= 2 else 0)
            clips += [Clip(str(p.relative_to(root)), label, "test" if i < n_test else "train", path=p)
                      for i, p in enumerate(shuffled)]
        if not files:
            raise DatasetLayoutError(f"folder: the class folder {cls!r} under {root} holds no audio files "
                                     f"({', '.join(AUDIO_SUFFIXES)}); remove it or add clips")
    durations = [_duration(c.path) for c in clips]
    frames = min(clip_frames(float(np.median(durations))), MAX_FOLDER_FRAMES)
    return TaskData("folder", clips, classes, frames, root=root)


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError as exc:
        raise DatasetLayoutError(f"folder: cannot read {folder}: {exc.strerror or exc}") from None


def _duration(path: Path) -> float:
    import soundfile as sf

    try:
        return sf.info(str(path)).duration
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, ...
        raise AudioLoadError(f"cannot read audio file {path}: {exc}") from exc


# ---- embedded tasks -----------------------------------------------------------------------------
@register_task("synth_sounds", description="embedded: procedurally synthesised sound events, 1 s",
               needs_root=False)
def _load_synth_sounds(root: None, *, seed: int = 0, n_per_class: int = 40, seconds: float = 1.0) -> TaskData:
    from workbench.audio.synth_sounds import make_synth_sounds

    clips: list[Clip] = []
    class_names: list[str] = []
    for split in ("train", "test"):
        waves, labels, class_names = make_synth_sounds(split, n_per_class=n_per_class, seed=seed, seconds=seconds)
        tag = f"synth_sounds/seed{seed}/n{n_per_class}/{seconds}s/{split}"
        clips += [Clip(f"{tag}/{i}", int(y), split, wave=w) for i, (w, y) in enumerate(zip(waves, labels))]
    return TaskData("synth_sounds", clips, list(class_names), clip_frames(seconds))


@register_task("spoken_digits", description="embedded: 'zero'..'nine' spoken by espeak-ng, test voices unseen",
               needs_root=False)
def _load_spoken_digits(root: None, *, seed: int = 0, **options) -> TaskData:
    """``options`` go to :func:`~workbench.audio.spoken_digits.make_spoken_digits`."""
    from workbench.audio.spoken_digits import CLIP_SECONDS, DIGITS, make_spoken_digits

    items = make_spoken_digits(seed=seed, **options)
    clips = [Clip(str(it.path.name), it.label, it.split, path=it.path) for it in items]
    return TaskData("spoken_digits", clips, list(DIGITS), clip_frames(CLIP_SECONDS))
