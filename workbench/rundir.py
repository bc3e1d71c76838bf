"""Run folders: one writer at a time, nothing overwritten, nothing left behind by a failure.

Every command that writes a run (``pretrain``, ``finetune``, ``sweep``) holds :func:`run_lock`
on its output folder for as long as it writes: a second process gets :class:`RunFolderBusy`,
which names the folder and the holder's process id. The lock is an advisory ``flock`` on
``FOLDER/.lock``, so the operating system releases it when its process dies, however it dies:
a lock left by a killed process is taken over by the next run (its file still names the dead
holder, which is then replaced).

A folder the command created is removed again when the command fails before writing anything
into it, so a typo never leaves empty folders behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from workbench.files import Locked, file_lock

LOCK_NAME = ".lock"
# The files that mean "a run was written here".
PRETRAIN_FILES = ("config.json", "metrics.json", "metrics.jsonl", "checkpoint.pt")


class RunFolderBusy(RuntimeError):
    """Another process is writing the run folder."""


class RunExistsError(FileExistsError):
    """The folder already holds a run that the command would overwrite."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return "unknown"
    return text or "unknown"


@contextlib.contextmanager
def run_lock(folder: str | Path, *, what: str = "run") -> Iterator[Path]:
    """Hold the write lock on ``folder`` (created when missing) for the block; yields the folder.

    Raises :class:`RunFolderBusy` naming the folder and the holder's process id when another
    live process holds it. A folder this call created is removed on error if nothing but the
    lock file was written to it.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    held = contextlib.ExitStack()
    try:
        fd = held.enter_context(file_lock(path, blocking=False))
    except Locked:
        raise RunFolderBusy(f"{folder} is being written by another {what} ({_holder(path)}); wait for it "
                            "to finish or choose another output folder") from None
    with held:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        try:
            yield folder
        except BaseException:
            if created:
                with contextlib.suppress(OSError):
                    path.unlink()
                remove_if_empty(folder)
            raise
        finally:
            with contextlib.suppress(OSError):
                path.unlink()


def remove_if_empty(folder: Path) -> None:
    """Remove ``folder`` (and empty folders inside it) when it holds no file."""
    folder = Path(folder)
    if folder.is_dir() and not any(p.is_file() for p in folder.rglob("*")):
        shutil.rmtree(folder, ignore_errors=True)


def new_run_id() -> str:
    """A unique id of a run: UTC time and 8 random hex digits (``20261130T025614-1a2b3c4d``)."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def existing_run_files(folder: str | Path, names: Iterable[str] = PRETRAIN_FILES) -> list[str]:
    """The files among ``names`` that ``folder`` holds (sorted)."""
    folder = Path(folder)
    return sorted(n for n in names if (folder / n).exists())


__all__ = ["LOCK_NAME", "PRETRAIN_FILES", "RunExistsError", "RunFolderBusy", "existing_run_files", "new_run_id",
           "remove_if_empty", "run_lock"]
