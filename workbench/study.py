"""The study: which pattern properties predict downstream accuracy (the framework paper's Fig. 3).

Two inputs are joined per pre-training dataset:

* the results CSV that fine-tuning grows, summarised per setting by
  :func:`workbench.results.summarize` (folds, then seeds averaged);
* a property table from :func:`workbench.patterns.properties.properties_table` (one row per
  dataset, column ``name`` plus one column per property).

:func:`correlations` then gives Pearson r (and Spearman rho, p-values, n) per property and task.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import patterns
from workbench.results import SETTING_COLUMNS, SUMMARY_COLUMNS, per_seed, summarize

ID_COLUMNS = ("name", "paper_id", "family", "kind")


def load_results(path: str | Path, *, metric: str = "test_accuracy", protocol: str | None = None) -> pd.DataFrame:
    """The results CSV summarised per setting (:func:`workbench.results.summarize`: folds, then
    seeds averaged, never across settings), optionally one protocol. Rows of scratch encoders
    (``pretrain_dataset == "none"``) are kept: they are the baseline, not a pattern dataset."""
    table = summarize(path, metric=metric)
    if protocol is not None:
        table = table[table["protocol"] == protocol]
        if table.empty:
            raise ValueError(f"{path} has no rows with metric={metric!r} and protocol={protocol!r}")
    return table.reset_index(drop=True)


def join(results: pd.DataFrame, properties: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``results`` whose ``pretrain_dataset`` is a row ``name`` of ``properties``, with the
    properties as extra columns (pattern aliases and run-folder labels are matched by name)."""
    canonical = lambda n: patterns.get(n).name if patterns.is_registered(n) else n  # noqa: E731
    results = results.assign(pretrain_dataset=results["pretrain_dataset"].map(canonical))
    props = properties.rename(columns={"name": "pretrain_dataset"})
    return results.merge(props, on="pretrain_dataset", how="inner")


def property_columns(table: pd.DataFrame) -> list[str]:
    """Numeric property columns of a property table (identifiers and result columns excluded)."""
    skip = set(ID_COLUMNS) | set(SETTING_COLUMNS) | set(SUMMARY_COLUMNS)
    return [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])]


def correlations(joined: pd.DataFrame, *, properties: list[str] | None = None) -> pd.DataFrame:
    """Pearson r / Spearman rho (with two-sided p-values) of each property against ``value_mean``,
    per (task, protocol). Columns: ``task, protocol, property, n, pearson_r, pearson_p,
    spearman_r, spearman_p``. Fewer than 3 datasets, or a constant column, give NaN."""
    from scipy import stats

    properties = properties or property_columns(joined)
    rows = []
    for (task, protocol), group in joined.groupby(["task", "protocol"]):
        y = group["value_mean"].to_numpy(float)
        for prop in properties:
            x = group[prop].to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y)
            n = int(ok.sum())
            r = p = rho = p_rho = float("nan")
            if n >= 3 and np.ptp(x[ok]) > 0 and np.ptp(y[ok]) > 0:
                r, p = stats.pearsonr(x[ok], y[ok])
                rho, p_rho = stats.spearmanr(x[ok], y[ok])
            rows.append({"task": task, "protocol": protocol, "property": prop, "n": n,
                         "pearson_r": float(r), "pearson_p": float(p),
                         "spearman_r": float(rho), "spearman_p": float(p_rho)})
    return pd.DataFrame(rows)


SOURCE_KINDS = ("scratch", "image pattern", "procedural audio", "real audio")


def source_kind(pretrain_dataset: str) -> str:
    """Which family a results row's pre-training source belongs to (see :data:`SOURCE_KINDS`)."""
    if pretrain_dataset in ("none", "scratch"):
        return "scratch"
    if pretrain_dataset.startswith(("audio:", "audio_")):
        return "real audio"
    if patterns.is_registered(pretrain_dataset):
        return "procedural audio" if patterns.get(pretrain_dataset).kind == "spectrogram" else "image pattern"
    return "image pattern"  # an image folder


def compare_sources(path: str | Path, *, task: str, protocol: str = "linear",
                    metric: str = "test_accuracy") -> pd.DataFrame:
    """Per-seed results of one task and protocol (:func:`workbench.results.per_seed`) with each
    row's :func:`source_kind`: the table behind the scratch / image pattern / procedural audio /
    real audio comparison."""
    runs = per_seed(path, metric=metric)
    runs = runs[(runs["task"] == task) & (runs["protocol"] == protocol)].reset_index(drop=True)
    if runs.empty:
        raise ValueError(f"{path} has no {metric} rows for task={task!r}, protocol={protocol!r}")
    runs["kind"] = runs["pretrain_dataset"].map(source_kind)
    return runs


# ---- the study report (python -m workbench study) ----------------------------------------------
TEXT_COLUMNS = ("task", "protocol", "pretrain_dataset", "model", "pretrain_steps", "epochs", "settings", "n_seeds",
                "value_mean", "value_std")


@dataclass
class StudyReport:
    """What ``python -m workbench study`` prints: one row per distinct setting."""

    rows: pd.DataFrame
    metric: str

    def to_json(self) -> dict:
        return {"metric": self.metric, "rows": json.loads(self.rows.to_json(orient="records"))}

    def to_text(self) -> str:
        cols = [c for c in TEXT_COLUMNS if c in self.rows.columns]
        table = self.rows[cols].copy()
        for c in ("value_mean", "value_std"):
            if c in table:
                table[c] = table[c].map(lambda v: f"{v:.3f}" if pd.notna(v) else "-")
        return f"{self.metric}, one row per setting (folds, then seeds averaged):\n" + table.to_string(index=False)


def study_report(path: str | Path, *, task: str | None = None, protocol: str | None = None,
                 metric: str = "test_accuracy") -> StudyReport:
    """The summary of a results CSV (:func:`workbench.results.summarize`), optionally one task and
    protocol, sorted by task, protocol and mean."""
    table = summarize(path, metric=metric)
    for column, value in (("task", task), ("protocol", protocol)):
        if value is not None:
            if value not in set(table[column]):
                raise ValueError(f"{path} has no {metric} rows for {column}={value!r}; it has "
                                 f"{', '.join(sorted(map(str, set(table[column]))))}")
            table = table[table[column] == value]
    table = table.sort_values(["task", "protocol", "value_mean"], ascending=[True, True, False])
    return StudyReport(table.reset_index(drop=True), metric)
