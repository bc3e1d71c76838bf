"""Where and how the workbench writes files: atomic writes (a reader, or a resumed run, never
sees a half-written checkpoint or JSON) and the cache folder for data that is slow to make."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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


__all__ = ["CACHE_ENV", "atomic_torch_save", "atomic_write_json", "cache_dir"]
