"""Optional experiment trackers fed by the training hooks (``pretrain(on_step=...)``,
``finetune(on_epoch=...)``).

``metrics.jsonl`` (pre-training) and ``metrics.json`` (fine-tuning) stay the source of truth: a
tracker only mirrors the numeric fields of each record, so a missing or broken tracker can never
lose a result. ``--log tensorboard`` writes event files under ``RUN/tensorboard``; view them with
``tensorboard --logdir runs``.
"""
from __future__ import annotations

import math
from pathlib import Path

from workbench.registry import unknown_name

TRACKERS = ("tensorboard",)
TENSORBOARD_DIR = "tensorboard"


class TensorBoardLog:
    """Writes each record's numeric fields as scalars at ``record[step_key]``; ``group`` prefixes
    the tags (``pretrain/loss``, ``finetune/test_accuracy``; a fold other than ``none`` adds
    ``/fold3``). A callable, so it plugs into the hooks directly; close it (or use ``with``).

    The event folder is made at the first record, so a run refused before its first step leaves
    nothing behind."""

    def __init__(self, run_dir: str | Path, *, group: str, step_key: str):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # torch imports tensorboard lazily and raises this without it
            raise ImportError("--log tensorboard needs the tensorboard package: pip install 'workbench[tensorboard]'"
                              ) from e
        self._writer_class = SummaryWriter
        self.dir = Path(run_dir) / TENSORBOARD_DIR
        self.writer = None
        self.group, self.step_key = group, step_key

    def __call__(self, record: dict) -> None:
        if self.writer is None:
            self.writer = self._writer_class(log_dir=str(self.dir))
        step = int(record[self.step_key])
        fold = record.get("fold", "none")
        prefix = self.group if fold in ("none", None) else f"{self.group}/fold{fold}"
        for key, value in record.items():
            if key in (self.step_key, "fold") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{key}", value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> "TensorBoardLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_tracker(name: str, run_dir: str | Path, *, group: str, step_key: str) -> TensorBoardLog | None:
    """The tracker called ``name`` ("" or "none": no tracker); an unknown name lists the valid ones."""
    if name in ("", "none"):
        return None
    if name not in TRACKERS:
        raise unknown_name("tracker", name, TRACKERS)
    return TensorBoardLog(run_dir, group=group, step_key=step_key)
