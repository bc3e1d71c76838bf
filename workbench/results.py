"""The results CSV that downstream evaluations grow, and the one function that summarises it.

One tidy row per (run, fold, metric). A row carries every setting that changed its number
(:data:`SETTING_COLUMNS`: the downstream evaluation, :data:`DOWNSTREAM_COLUMNS`, and the
encoder's pre-training, :data:`PRETRAIN_COLUMNS`, each with a hash of its remaining settings),
the seeds and fold, the metric and its value, and where it came from
(:data:`PROVENANCE_COLUMNS`: time, the run's id and folder, the checkpoint it started from and
that pre-training run's id). Paths are written relative to the results file.

:func:`summarize` is the only summary: it averages the folds of a run, then the seeds of one
setting, and never averages rows whose settings differ. ``finetune``, the study, the source
comparison and ``python -m workbench study`` all read results through it.

Writes are safe: :func:`append_results` holds a lock on the CSV and replaces the file atomically,
and rows of a run id that is written again replace the earlier ones (a run that is repeated after
an interruption never counts twice).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from workbench.files import atomic_write_text, file_lock

PROVENANCE_COLUMNS = ("time", "run_id", "out_dir", "init", "pretrain_run")
# The downstream evaluation: rows compared with each other (a dataset against scratch and the floor)
# share all of these; downstream_settings hashes every other fine-tuning setting and the encoder's shape.
DOWNSTREAM_COLUMNS = ("task", "task_data", "protocol", "model", "epochs", "lr", "batch_size", "frames",
                      "label_fraction", "downstream_settings")
# The encoder's pre-training (empty for scratch and the floor); pretrain_settings hashes the rest of it.
PRETRAIN_COLUMNS = ("pretrain_dataset", "pretrain_steps", "pretrain_batch", "pretrain_lr", "pretrain_frames",
                    "pretrain_settings")
# Every column that changes a number: rows are only ever averaged when all of these agree.
SETTING_COLUMNS = DOWNSTREAM_COLUMNS + PRETRAIN_COLUMNS
SEED_COLUMNS = ("seed", "pretrain_seed", "fold")
RESULT_COLUMNS = PROVENANCE_COLUMNS + SETTING_COLUMNS + SEED_COLUMNS + ("metric", "value")
SUMMARY_COLUMNS = ("value_mean", "value_std", "n_seeds")
# The minimum an older results file must have to be read.
REQUIRED_COLUMNS = ("task", "protocol", "pretrain_dataset", "seed", "metric", "value")


def settings_hash(settings: dict) -> str:
    """A short, stable id of a dict of settings (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def relative_path(path: str | Path, csv_path: str | Path) -> str:
    """``path`` relative to the folder of the results file (as given when not on the same drive)."""
    try:
        return os.path.relpath(Path(path).resolve(), Path(csv_path).resolve().parent)
    except ValueError:
        return str(path)


def append_results(path: str | Path, rows: Sequence[dict]) -> Path:
    """Add ``rows`` to the CSV at ``path`` (created with its header when new). Earlier rows with
    the run id of a new row are replaced, not kept beside it. The file is locked while it is read
    and atomically replaced, so concurrent writers and interruptions never lose or split a row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{c: row.get(c, "") for c in RESULT_COLUMNS} for row in rows]
    with file_lock(path.with_name(f".{path.name}.lock")):
        kept = _read_rows(path)
        new_ids = {str(r["run_id"]) for r in rows if r["run_id"] != ""}
        kept = [r for r in kept if r.get("run_id", "") not in new_ids]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(kept + rows)
        atomic_write_text(buf.getvalue(), path)
    return path


def remove_run(path: str | Path, run_id: str) -> int:
    """Drop the rows of ``run_id`` from the CSV (a run being replaced); returns how many."""
    path = Path(path)
    if not path.exists() or not run_id:
        return 0
    with file_lock(path.with_name(f".{path.name}.lock")):
        rows = _read_rows(path)
        kept = [r for r in rows if r.get("run_id", "") != run_id]
        if len(kept) != len(rows):
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, lineterminator="\n")
            w.writeheader()
            w.writerows(kept)
            atomic_write_text(buf.getvalue(), path)
    return len(rows) - len(kept)


def _read_rows(path: Path) -> list[dict]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != RESULT_COLUMNS:
            raise ValueError(f"{path} has columns {reader.fieldnames}, not the results columns "
                             f"{list(RESULT_COLUMNS)}; choose another results file (files written by an earlier "
                             "version can still be read and summarised)")
        return list(reader)


def read_results(path: str | Path) -> pd.DataFrame:
    """The rows of a results CSV (of this version or an earlier one); a missing file or missing
    columns are errors that say so. Pattern aliases are mapped to their registered names."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results CSV at {path}: run `python -m workbench finetune ...` first")
    df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    missing = sorted(set(REQUIRED_COLUMNS) - set(df.columns))
    if missing:
        raise ValueError(f"{path} lacks the results columns {missing}")
    return canonical_datasets(df)


def canonical_datasets(df: pd.DataFrame) -> pd.DataFrame:
    """``pretrain_dataset`` with pattern aliases mapped to the registered name (``visual_atom`` and
    ``visual_atom1k`` are one dataset)."""
    from workbench import patterns

    names = df["pretrain_dataset"].astype(str)
    return df.assign(pretrain_dataset=names.map(lambda n: patterns.get(n).name if patterns.is_registered(n) else n))


def per_seed(results: pd.DataFrame | str | Path, *, metric: str = "test_accuracy") -> pd.DataFrame:
    """One row per (setting, seed): ``metric`` averaged over the folds of that run, so a 5-fold run
    and a 1-fold run each count once per seed. Columns: the settings, the seeds, ``value``."""
    df = read_results(results) if isinstance(results, (str, Path)) else canonical_datasets(results)
    df = df[df["metric"] == metric]
    if df.empty:
        raise ValueError(f"no rows with metric={metric!r}")
    keys = [c for c in SETTING_COLUMNS + ("seed", "pretrain_seed") if c in df.columns]
    return df.groupby(keys, as_index=False, dropna=False)["value"].mean()


def summarize(results: pd.DataFrame | str | Path, *, metric: str = "test_accuracy") -> pd.DataFrame:
    """Mean, std and number of seeds of ``metric`` per setting (:data:`SETTING_COLUMNS`), folds
    averaged within a seed first (:func:`per_seed`). ``results`` is a results CSV, its rows, or
    the per-seed table :func:`per_seed` returns (extra columns derived from the settings, such as
    a source kind, are kept). Columns: the settings, ``value_mean, value_std, n_seeds``."""
    if isinstance(results, (str, Path)) or "metric" in results.columns:
        results = per_seed(results, metric=metric)
    keys = [c for c in results.columns if c not in ("seed", "pretrain_seed", "value")]
    return results.groupby(keys, dropna=False)["value"].agg(value_mean="mean", value_std="std",
                                                            n_seeds="count").reset_index()


__all__ = ["DOWNSTREAM_COLUMNS", "PRETRAIN_COLUMNS", "PROVENANCE_COLUMNS", "REQUIRED_COLUMNS", "RESULT_COLUMNS",
           "SEED_COLUMNS", "SETTING_COLUMNS", "SUMMARY_COLUMNS", "append_results", "canonical_datasets", "per_seed",
           "read_results", "relative_path", "remove_run", "settings_hash", "summarize"]
