"""The results CSV that downstream evaluations grow, and the one function that summarises it.

One tidy row per (run, fold, metric): the settings that produced the number (:data:`SETTING_COLUMNS`),
the seed and fold, the metric and its value, and where it came from (time, output folder).
:func:`summarize` is the only summary: it averages the folds of a run, then the seeds of one
setting, and never averages rows whose settings differ. ``finetune``, the study and the source
comparison all read results through it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import pandas as pd

# Every column that changes a number: rows are only ever averaged when all of these agree.
SETTING_COLUMNS = ("task", "protocol", "pretrain_dataset", "model", "epochs", "pretrain_step")
RESULT_COLUMNS = ("time", "pretrain_dataset", "task", "protocol", "fold", "metric", "value", "seed", "init",
                  "model", "epochs", "pretrain_step", "out_dir")
SUMMARY_COLUMNS = ("value_mean", "value_std", "n_seeds")


def append_results(path: str | Path, rows: Sequence[dict]) -> Path:
    """Append ``rows`` to the CSV at ``path`` (header written when the file is new)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
        if tuple(header) != RESULT_COLUMNS:
            raise ValueError(f"{path} has columns {header}, not the results columns {list(RESULT_COLUMNS)}; "
                             "choose another results file")
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RESULT_COLUMNS)
        if new:
            w.writeheader()
        w.writerows(rows)
    return path


def read_results(path: str | Path) -> pd.DataFrame:
    """The rows of a results CSV; a missing file or missing columns are errors that say so."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results CSV at {path}: run `python -m workbench finetune ...` first")
    df = pd.read_csv(path)
    missing = sorted(set(SETTING_COLUMNS + ("seed", "metric", "value")) - set(df.columns))
    if missing:
        raise ValueError(f"{path} lacks the results columns {missing}")
    return df


def per_seed(results: pd.DataFrame | str | Path, *, metric: str = "test_accuracy") -> pd.DataFrame:
    """One row per (setting, seed): ``metric`` averaged over the folds of that run, so a 5-fold run
    and a 1-fold run each count once per seed. Columns: the settings, ``seed``, ``value``."""
    df = read_results(results) if isinstance(results, (str, Path)) else results
    df = df[df["metric"] == metric]
    if df.empty:
        raise ValueError(f"no rows with metric={metric!r}")
    keys = [c for c in SETTING_COLUMNS if c in df.columns]
    return df.groupby(keys + ["seed"], as_index=False, dropna=False)["value"].mean()


def summarize(results: pd.DataFrame | str | Path, *, metric: str = "test_accuracy") -> pd.DataFrame:
    """Mean, std and number of seeds of ``metric`` per setting (:data:`SETTING_COLUMNS`), folds
    averaged within a seed first (:func:`per_seed`). ``results`` is a results CSV, its rows, or
    the per-seed table :func:`per_seed` returns (extra columns derived from the settings, such as
    a source kind, are kept). Columns: the settings, ``value_mean, value_std, n_seeds``."""
    if isinstance(results, (str, Path)) or "metric" in results.columns:
        results = per_seed(results, metric=metric)
    runs = results
    keys = [c for c in runs.columns if c not in ("seed", "value")]
    out = runs.groupby(keys, dropna=False)["value"].agg(value_mean="mean", value_std="std", n_seeds="count").reset_index()
    return out


__all__ = ["RESULT_COLUMNS", "SETTING_COLUMNS", "SUMMARY_COLUMNS", "append_results", "per_seed", "read_results",
           "summarize"]
