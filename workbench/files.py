"""Where and how the workbench writes files: atomic writes (a reader, or a resumed run, never
sees a half-written checkpoint or JSON), advisory file locks, and the cache folder for data
that is slow to make."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

import torch

CACHE_ENV = "WORKBENCH_CACHE"


def cache_dir() -> Path:
    """Where slow-to-make data is cached: ``$WORKBENCH_CACHE`` or ``~/.cache/workbench``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "workbench")


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def atomic_write_json(obj: Any, path: Path) -> None:
    """Write ``obj`` as indented JSON (non-JSON values via ``str``), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def atomic_write_text(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Locked(OSError):
    """A non-blocking :func:`file_lock` found the lock taken."""


@contextlib.contextmanager
def file_lock(path: Path, *, blocking: bool = True) -> Iterator[int]:
    """An advisory ``flock`` on ``path`` (created when missing) held for the block; yields its
    file descriptor. The operating system releases it when the process dies. Non-blocking:
    raises :class:`Locked` when another process holds it."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise Locked(str(path)) from None
            raise
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


FINGERPRINT_SAMPLES = 16  # files whose bytes enter a folder's fingerprint (every file's name and size do)
FINGERPRINT_BYTES = 1 << 16  # bytes read from each end of a sampled file


def folder_fingerprint(folder: Path) -> str:
    """sha1 (12 hex digits) of every file's relative name and size below ``folder``, and of the
    first and last 64 KiB of up to 16 files spread over the sorted list: cheap on a folder of
    100k images or a multi-GB array, and it changes when files are added, removed, resized or
    rewritten at either end."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    h = hashlib.sha1()
    for p in files:
        h.update(f"{p.relative_to(folder)}\0{p.stat().st_size}\n".encode())
    step = max(1, len(files) // FINGERPRINT_SAMPLES)
    for p in files[::step][:FINGERPRINT_SAMPLES]:
        with open(p, "rb") as f:
            h.update(f.read(FINGERPRINT_BYTES))
            if p.stat().st_size > 2 * FINGERPRINT_BYTES:
                f.seek(-FINGERPRINT_BYTES, 2)
                h.update(f.read(FINGERPRINT_BYTES))
    return h.hexdigest()[:12]


__all__ = ["CACHE_ENV", "Locked", "atomic_torch_save", "atomic_write_json", "atomic_write_text", "cache_dir",
           "file_lock", "folder_fingerprint"]
