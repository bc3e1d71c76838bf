"""The one parser of what ``--dataset`` (and a sweep's ``--datasets``) may name:

* a registered pattern name or alias (``fractaldb``, ``shaders1k``, ``procedural_audio``, ...);
* a folder of images (a downloaded Shaders21k, a materialised PNG folder), or a folder holding the
  ``images.npy`` that ``patterns materialize --format npy`` writes;
* ``audio:TASK`` (an embedded task, ``synth_sounds`` or ``spoken_digits``), ``audio:TASK:ROOT`` (a
  registered task on a local copy, e.g. ``audio:esc50:/data/ESC-50``) or ``audio:/folder`` (every
  audio file below it).

:func:`parse_dataset` checks the text without loading any data and returns a
:class:`DatasetSpec`; :func:`workbench.sources.make_source` turns that into batches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from workbench import patterns
from workbench.audio import tasks
from workbench.files import folder_fingerprint
from workbench.registry import did_you_mean

AUDIO_PREFIX = "audio:"
KINDS = ("pattern", "folder", "array", "audio_task", "audio_folder")


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset text. ``name``: the pattern's registered name, the task name, or the
    folder's name; ``root``: the folder (expanded), or a task's local copy (None when embedded)."""

    text: str  # as given
    kind: str  # one of KINDS
    name: str
    root: Path | None = None

    @property
    def canonical(self) -> str:
        """The text with aliases resolved and folders expanded (not made absolute)."""
        if self.kind == "pattern":
            return self.name
        if self.kind in ("folder", "array"):
            return str(self.root)
        if self.kind == "audio_task":
            return f"{AUDIO_PREFIX}{self.name}" + (f":{self.root}" if self.root is not None else "")
        return f"{AUDIO_PREFIX}{self.root}"

    def absolute(self) -> str:
        """The text with every folder made absolute (notebooks run in their own folder)."""
        if self.kind == "pattern":
            return self.text
        if self.kind in ("folder", "array"):
            return str(self.root.resolve())
        if self.kind == "audio_task":
            return f"{AUDIO_PREFIX}{self.name}" + (f":{self.root.resolve()}" if self.root is not None else "")
        return f"{AUDIO_PREFIX}{self.root.resolve()}"

    @cached_property
    def fingerprint(self) -> str:
        """A short content fingerprint of the folder behind the spec (``""`` for patterns and
        embedded tasks): two folders of the same name with other files never look alike."""
        return folder_fingerprint(self.root) if self.root is not None else ""

    @property
    def label(self) -> str:
        """A file-name-safe label (a sweep's run-folder name): the pattern's registered name,
        ``audio_TASK``, or a folder's name with its fingerprint (``good-1a2b3c``, so that
        ``/a/good`` and ``/b/good`` never share a run folder)."""
        if self.kind == "pattern":
            return self.name
        if self.kind == "audio_task":
            return f"audio_{self.name}" + (f"-{self.fingerprint[:6]}" if self.root is not None else "")
        base = _safe(self.root.resolve().name) + f"-{self.fingerprint[:6]}"
        return base if self.kind in ("folder", "array") else f"audio_{base}"

    @property
    def result_name(self) -> str:
        """How results rows name the source: a pattern's registered name (aliases resolved),
        ``audio:TASK``, or the folder's :attr:`label` (no machine paths)."""
        if self.kind == "pattern":
            return self.name
        if self.kind == "audio_task":
            return f"{AUDIO_PREFIX}{self.name}" + (f"-{self.fingerprint[:6]}" if self.root is not None else "")
        return f"{AUDIO_PREFIX}{self.label[len('audio_'):]}" if self.kind == "audio_folder" else self.label

    @property
    def identity(self) -> str:
        """What makes two sources the same data: the registered name, or the resolved folder and
        its content fingerprint."""
        if self.root is None:
            return self.canonical
        return f"{self.kind}:{self.name}:{self.root.resolve()}#{self.fingerprint}"

    @property
    def is_audio(self) -> bool:
        return self.kind.startswith("audio_")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text) or "_"


def parse_dataset(text: str) -> DatasetSpec:
    """Parse and check ``text`` (see the module docstring); nothing is loaded. Errors name the
    problem: an unknown name lists the valid ones, a missing folder says it does not exist."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"dataset must be a pattern name, a folder or an audio: spec, got {text!r}")
    text = text.strip()
    if text.startswith(AUDIO_PREFIX):
        return _parse_audio(text)
    if patterns.is_registered(text):
        return DatasetSpec(text, "pattern", patterns.get(text).name)
    path = Path(text).expanduser()
    if path.is_dir():
        return DatasetSpec(text, "array" if (path / "images.npy").exists() else "folder", path.name, path)
    if path.exists():
        raise ValueError(f"dataset {text!r} is a file; pass a folder of images, a pattern name or an audio: spec")
    if _looks_like_path(text):
        raise FileNotFoundError(f"dataset folder {path} does not exist")
    patterns.get(text)  # raises the KeyError that lists every valid name
    raise AssertionError("unreachable")


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.startswith((".", "~"))


def _parse_audio(text: str) -> DatasetSpec:
    spec = text[len(AUDIO_PREFIX):]
    embedded = [n for n in tasks.names() if not tasks.get(n).needs_root]
    usage = (f"Use audio:TASK with an embedded task ({', '.join(embedded)}), audio:TASK:ROOT for a local copy of "
             f"{', '.join(n for n in tasks.names() if n not in embedded)}, or audio:/folder/of/audio")
    if not spec:
        raise ValueError(f"empty audio spec {text!r}. {usage}")
    name, _, root = spec.partition(":")
    if name in tasks.TASKS:
        task = tasks.get(name)
        if task.needs_root and not root:
            raise ValueError(f"{text}: task {name!r} reads a local copy; write audio:{name}:ROOT")
        if root and not task.needs_root:
            raise ValueError(f"{text}: task {name!r} is embedded and takes no root; write audio:{name}")
        if root and not Path(root).expanduser().is_dir():
            raise FileNotFoundError(f"{text}: the folder {root} does not exist")
        return DatasetSpec(text, "audio_task", name, Path(root).expanduser() if root else None)
    path = Path(spec).expanduser()
    if path.is_dir():
        return DatasetSpec(text, "audio_folder", path.name, path)
    if _looks_like_path(spec):
        raise FileNotFoundError(f"{text}: the folder {path} does not exist")
    raise KeyError(f"{text!r} is neither an audio task nor an existing folder.{did_you_mean(name, tasks.names())} "
                   f"{usage}")


__all__ = ["AUDIO_PREFIX", "DatasetSpec", "KINDS", "parse_dataset"]
