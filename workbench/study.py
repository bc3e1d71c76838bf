"""The study: which pre-training sources teach an audio MAE, and which image properties predict it
(the framework paper's Fig. 3), with the statistics a reviewer would accept.

The input is a results CSV (:mod:`workbench.results`) in which every encoder was evaluated over
several seeds beside two references of the same evaluation: ``scratch`` (a randomly initialised
encoder) and ``floor`` (pooled log-mel statistics + logistic regression, no encoder). Rows are
compared only within one *evaluation* (:data:`~workbench.results.DOWNSTREAM_COLUMNS`: the task
and its data, the protocol, the model, the fine-tuning settings), and a source is one distinct
pre-training setting (:data:`~workbench.results.PRETRAIN_COLUMNS`). The floor, which has no
fine-tuning settings, joins every evaluation on its data (:data:`FLOOR_KEYS`).

For every (evaluation, source) :func:`analyse` gives:

* the mean over seeds with a 95% interval (:func:`workbench.statistics.mean_ci`: the expanded
  bootstrap from 5 seeds on, which covers ~89% with 5 and 94% with 10; a Student t interval with
  fewer, because no bootstrap interval of 3 values covers more than 75%; ``ci_method`` says which);
* the difference to scratch, paired by seed, its 95% interval and two-sided t-test with the noise
  pooled over every source of the evaluation (:func:`workbench.statistics.compare_to_baseline`:
  two-way ANOVA residuals, ``diff_method`` "pooled t"), and its p-value adjusted across the
  sources of the evaluation with Benjamini-Hochberg; ``significant`` when the adjusted p is below
  0.05; the same difference to the floor;
* per evaluation, the stability of the ranking of the sources across seeds (Kendall's W and the
  mean pairwise Spearman it implies);
* per evaluation and image property, Pearson and Spearman r between the property and the seed-mean
  accuracy of the image-pattern datasets, with bootstrap intervals and permutation p-values
  (Benjamini-Hochberg adjusted across the properties).

``python -m workbench study RESULTS_CSV [--task T] [--protocol P] [--json]`` prints it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import patterns
from workbench.results import DOWNSTREAM_COLUMNS, PRETRAIN_COLUMNS, per_seed, read_results
from workbench.statistics import (
    ALPHA, benjamini_hochberg, compare_to_baseline, correlation, kendalls_w, mean_ci, mean_spearman,
)
from workbench.train.floor import FLOOR

SCRATCH = "none"  # how results name a randomly initialised encoder (the floor: FLOOR, "floor")
# The CPU study's rows and the image properties of the 17 datasets, shipped with the repository.
SHIPPED_STUDY = Path(__file__).resolve().parents[1] / "figures" / "data" / "study_cpu.csv"
SHIPPED_PROPERTIES = Path(__file__).resolve().parents[1] / "figures" / "data" / "pattern_properties.csv"
SOURCE_KINDS = ("floor", "scratch", "image pattern", "procedural audio", "real audio")
ID_COLUMNS = ("name", "paper_id", "family", "kind")
# What the floor's number depends on besides its seed: the data it sees (see :func:`_evaluations`).
FLOOR_KEYS = ("task", "task_data", "frames", "label_fraction")
ROW_COLUMNS = ("task", "protocol", "pretrain_dataset", "kind", "n_seeds", "mean", "ci_low", "ci_high",
               "diff_vs_scratch", "diff_ci_low", "diff_ci_high", "p", "p_adjusted", "significant",
               "diff_vs_floor", "floor_ci_low", "floor_ci_high", "ci_method", "diff_method")


def source_kind(pretrain_dataset: str) -> str:
    """Which family a results row's pre-training source belongs to (see :data:`SOURCE_KINDS`)."""
    if pretrain_dataset in ("none", "scratch"):
        return "scratch"
    if pretrain_dataset == FLOOR:
        return "floor"
    if pretrain_dataset.startswith(("audio:", "audio_")):
        return "real audio"
    if patterns.is_registered(pretrain_dataset):
        return "procedural audio" if patterns.get(pretrain_dataset).kind == "spectrogram" else "image pattern"
    return "image pattern"  # an image folder


def seed_table(results: pd.DataFrame | str | Path, *, metric: str = "test_accuracy") -> pd.DataFrame:
    """One row per (evaluation, source, seed) with ``value`` (folds averaged) and ``kind``."""
    runs = per_seed(results, metric=metric)
    return runs.assign(kind=runs["pretrain_dataset"].astype(str).map(source_kind))


@dataclass
class StudyReport:
    """What :func:`analyse` finds (see the module docstring)."""

    rows: pd.DataFrame  # one row per (evaluation, source): ROW_COLUMNS and the other setting columns
    ranking: pd.DataFrame  # one row per evaluation: kendalls_w, mean_spearman, n_seeds, n_sources
    properties: pd.DataFrame  # one row per (evaluation, property): pearson/spearman r, intervals, p-values
    metric: str = "test_accuracy"
    seeds: pd.DataFrame = field(default_factory=pd.DataFrame)  # the per-seed table behind the rows

    def select(self, **settings) -> "StudyReport":
        """The part of the report whose rows have these setting values (``task="x", epochs=20``)."""
        def keep(df: pd.DataFrame) -> pd.DataFrame:
            for k, v in settings.items():
                if k in df.columns:
                    df = df[df[k].isna()] if pd.isna(v) else df[df[k] == v]
            return df.reset_index(drop=True)

        return StudyReport(keep(self.rows), keep(self.ranking), keep(self.properties), self.metric, keep(self.seeds))

    def evaluations(self):
        """``(task, protocol, report)`` for each evaluation (distinct downstream settings)."""
        keys = [c for c in DOWNSTREAM_COLUMNS if c in self.rows.columns]
        for values, rows in self.rows.groupby(keys, dropna=False, sort=False):
            first = rows.iloc[0]
            yield first["task"], first["protocol"], self.select(**dict(zip(keys, values)))

    def evaluation(self, task: str, protocol: str) -> pd.DataFrame:
        """The rows of the one evaluation of ``task`` and ``protocol``; several evaluations of them
        (other models, epochs, ...) are an error naming what differs (narrow with :meth:`select`)."""
        rows = self.rows[(self.rows["task"] == task) & (self.rows["protocol"] == protocol)]
        if rows.empty:
            raise ValueError(f"the report has no rows for task={task!r}, protocol={protocol!r}")
        keys = [c for c in DOWNSTREAM_COLUMNS if c in rows.columns]
        distinct = rows[keys].astype(str).drop_duplicates()
        if len(distinct) > 1:
            differ = [c for c in keys if distinct[c].nunique() > 1]
            raise ValueError(f"{len(distinct)} evaluations of {task} ({protocol}) differ in {', '.join(differ)}; "
                             "narrow the report with report.select(...)")
        return rows

    def to_json(self) -> dict:
        as_records = lambda df: json.loads(df.to_json(orient="records"))  # noqa: E731 (NaN -> null)
        return {"metric": self.metric, "rows": as_records(self.rows), "ranking": as_records(self.ranking),
                "properties": as_records(self.properties)}

    def to_text(self) -> str:
        parts = []
        for (task, protocol), rows in self.rows.groupby(["task", "protocol"], sort=False):
            table = rows[["pretrain_dataset", "n_seeds", "mean", "ci_low", "ci_high", "diff_vs_scratch",
                          "diff_ci_low", "diff_ci_high", "p_adjusted", "significant", "diff_vs_floor"]]
            parts.append(f"{task}, {protocol}: {self.metric}, mean over seeds [95% CI]; difference to scratch "
                         f"(paired by seed) [95% CI], Benjamini-Hochberg adjusted p\n"
                         + table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if len(self.ranking):
            parts.append("ranking stability across seeds\n" + self.ranking.to_string(
                index=False, float_format=lambda v: f"{v:.3f}"))
        if len(self.properties):
            cols = ["task", "protocol", "property", "n", "pearson_r", "pearson_ci_low", "pearson_ci_high",
                    "pearson_p", "spearman_r", "spearman_p", "p_adjusted"]
            parts.append("image properties vs mean accuracy of the image-pattern datasets\n" + self.properties[cols]
                         .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        return "\n\n".join(parts)


def analyse(results: pd.DataFrame | str | Path, *, metric: str = "test_accuracy", task: str | None = None,
            protocol: str | None = None, properties: pd.DataFrame | None = None) -> StudyReport:
    """The study of a results CSV (or its rows); see the module docstring. ``properties``: a table
    from :func:`workbench.patterns.properties.properties_table` (``name`` + one column per
    property); without it the property table is empty."""
    runs = seed_table(results, metric=metric)
    for column, value in (("task", task), ("protocol", protocol)):
        if value is not None:
            if value not in set(runs[column]):
                raise ValueError(f"no {metric} rows for {column}={value!r}; the results have "
                                 f"{', '.join(sorted(map(str, set(runs[column]))))}")
            runs = runs[runs[column] == value]
    keys = [c for c in DOWNSTREAM_COLUMNS if c in runs.columns]
    rows, ranking, props = [], [], []
    groups = _evaluations(runs, keys)
    for group in groups:
        table = _evaluation_rows(group)
        rows.append(table)
        ranking.append(_ranking(group, table))
        if properties is not None:
            props.append(_property_table(table, properties))
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=ROW_COLUMNS)
    # The seed rows as the evaluations saw them: a floor's carry each evaluation's settings, as in ``rows``.
    seeds = pd.concat(groups, ignore_index=True) if groups else runs
    return StudyReport(frame, pd.DataFrame([r for r in ranking if r]),
                       pd.concat(props, ignore_index=True) if props else pd.DataFrame(), metric, seeds)


def _evaluations(runs: pd.DataFrame, keys: list[str]) -> list[pd.DataFrame]:
    """The seed rows of each evaluation (one set of ``keys`` values), the floor's included.

    The floor trains no encoder, so epochs, lr and the fine-tuning settings do not touch its
    number: it joins every evaluation on the same data (:data:`FLOOR_KEYS`), and its rows take
    that evaluation's setting values. Floors left without an evaluation form their own."""
    floors = runs[runs["kind"] == "floor"]
    match = [c for c in FLOOR_KEYS if c in runs.columns]
    groups, used = [], set()
    for _, group in runs[runs["kind"] != "floor"].groupby(keys, dropna=False, sort=False):
        first = group.iloc[0]
        same = np.ones(len(floors), dtype=bool)
        for c in match:
            same &= (floors[c].isna() & pd.isna(first[c])).to_numpy() | (floors[c] == first[c]).to_numpy()
        floor = floors[same].drop_duplicates(subset=["seed", "value"])
        if floor["seed"].duplicated().any():
            raise ValueError(f"the results hold different floor values for the same seed on {first['task']} "
                             f"({', '.join(f'{c}={first[c]}' for c in match)}); keep one floor per data split")
        used.update(floor.index)
        groups.append(pd.concat([group, floor.assign(**{c: first[c] for c in keys})], ignore_index=True))
    for _, group in floors.drop(index=list(used)).groupby(keys, dropna=False, sort=False):
        groups.append(group)
    return groups


def _by_seed(rows: pd.DataFrame) -> dict:
    return dict(zip(rows["seed"], rows["value"]))


def _evaluation_rows(group: pd.DataFrame) -> pd.DataFrame:
    """The rows of one evaluation: every source against the scratch and floor of the same seeds."""
    source_keys = [c for c in PRETRAIN_COLUMNS if c in group.columns]
    scratch = _by_seed(group[group["kind"] == "scratch"])
    floor = _by_seed(group[group["kind"] == "floor"])
    sources = [(rows.iloc[0], _by_seed(rows)) for _, rows in group.groupby(source_keys, dropna=False, sort=False)]
    candidates = {i: values for i, (first, values) in enumerate(sources) if first["kind"] not in ("scratch", "floor")}
    vs_scratch_all = compare_to_baseline(candidates, scratch) if scratch else {}
    vs_floor_all = compare_to_baseline({i: v for i, (f, v) in enumerate(sources) if f["kind"] != "floor"}, floor) \
        if floor else {}
    out = []
    for i, (first, values) in enumerate(sources):
        low, high, method = mean_ci(list(values.values()))
        vs_scratch, vs_floor = vs_scratch_all.get(i), vs_floor_all.get(i)
        out.append({
            **{c: first[c] for c in group.columns if c not in ("seed", "pretrain_seed", "value")},
            "n_seeds": len(values), "mean": float(np.mean(list(values.values()))), "ci_low": low, "ci_high": high,
            "ci_method": method,
            "diff_vs_scratch": vs_scratch.mean if vs_scratch else np.nan,
            "diff_ci_low": vs_scratch.ci_low if vs_scratch else np.nan,
            "diff_ci_high": vs_scratch.ci_high if vs_scratch else np.nan, "p": vs_scratch.p if vs_scratch else np.nan,
            "diff_vs_floor": vs_floor.mean if vs_floor else np.nan,
            "floor_ci_low": vs_floor.ci_low if vs_floor else np.nan,
            "floor_ci_high": vs_floor.ci_high if vs_floor else np.nan,
            "diff_method": vs_scratch.ci_method if vs_scratch else "",
        })
    table = pd.DataFrame(out)
    table["p_adjusted"] = benjamini_hochberg(table["p"])
    table["significant"] = table["p_adjusted"] < ALPHA
    order = [c for c in ROW_COLUMNS if c in table.columns]
    table = table[order + [c for c in table.columns if c not in order]]
    return table.sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)


def _ranking(group: pd.DataFrame, table: pd.DataFrame) -> dict:
    """Kendall's W of the pre-training sources over the seeds every one of them has."""
    sources = group[~group["kind"].isin(["scratch", "floor"])]
    wide = sources.pivot_table(index="seed", columns="pretrain_dataset", values="value").dropna(axis=0)
    if wide.shape[0] < 2 or wide.shape[1] < 2:
        return {}
    w = kendalls_w(wide.to_numpy())
    return {**_evaluation(table), "n_seeds": wide.shape[0], "n_sources": wide.shape[1], "kendalls_w": w,
            "mean_spearman": mean_spearman(w, wide.shape[0])}


def _evaluation(rows: pd.DataFrame) -> dict:
    """The evaluation (downstream settings) a set of rows shares."""
    return {c: rows[c].iloc[0] for c in DOWNSTREAM_COLUMNS if c in rows.columns}


def property_columns(table: pd.DataFrame) -> list[str]:
    """Numeric property columns of a property table (identifiers excluded)."""
    return [c for c in table.columns if c not in ID_COLUMNS and pd.api.types.is_numeric_dtype(table[c])]


def join_properties(rows: pd.DataFrame, properties: pd.DataFrame) -> pd.DataFrame:
    """The image-pattern rows of one evaluation beside their dataset's properties: columns
    ``pretrain_dataset``, ``accuracy``, ``accuracy_ci_low``, ``accuracy_ci_high``, then the
    property table's (the study's ``mean`` is renamed: ``mean`` is also an image property, the
    mean brightness)."""
    canonical = properties.assign(name=properties["name"].map(
        lambda n: patterns.get(n).name if patterns.is_registered(n) else n))
    accuracy = rows.loc[rows["kind"] == "image pattern", ["pretrain_dataset", "mean", "ci_low", "ci_high"]].rename(
        columns={"mean": "accuracy", "ci_low": "accuracy_ci_low", "ci_high": "accuracy_ci_high"})
    return accuracy.merge(canonical, left_on="pretrain_dataset", right_on="name", suffixes=("", "_property"))


def _property_table(rows: pd.DataFrame, properties: pd.DataFrame) -> pd.DataFrame:
    """Each property against the seed-mean accuracy of the image-pattern datasets of one evaluation."""
    joined = join_properties(rows, properties)
    out = []
    for prop in property_columns(properties):
        p = correlation(joined[prop], joined["accuracy"], method="pearson")
        s = correlation(joined[prop], joined["accuracy"], method="spearman")
        out.append({**_evaluation(rows), "property": prop, "n": p.n,
                    "pearson_r": p.r, "pearson_ci_low": p.ci_low, "pearson_ci_high": p.ci_high, "pearson_p": p.p,
                    "spearman_r": s.r, "spearman_ci_low": s.ci_low, "spearman_ci_high": s.ci_high,
                    "spearman_p": s.p})
    table = pd.DataFrame(out)
    if len(table):
        table["p_adjusted"] = benjamini_hochberg(table["pearson_p"])
    return table


def property_table(names: list[str], *, n_images: int = 16, size: int = 128, seed: int = 0) -> pd.DataFrame:
    """:func:`workbench.patterns.properties.properties_table` of the image-pattern datasets among
    ``names``: from the shipped table (:data:`SHIPPED_PROPERTIES`, made by this function with its
    defaults) where it has them, else rendered once and cached as CSV under the cache folder."""
    from workbench.files import cache_dir
    from workbench.patterns.properties import properties_table

    wanted = sorted({patterns.get(n).name for n in names if patterns.is_registered(n)
                     and patterns.get(n).kind == "image"})
    # The shipped table was made by this function with its defaults: read it instead of rendering.
    shipped = pd.DataFrame({"name": []})
    if (n_images, size, seed) == (16, 128, 0) and SHIPPED_PROPERTIES.exists():
        shipped = pd.read_csv(SHIPPED_PROPERTIES)
        shipped = shipped[shipped["name"].isin(wanted)]
    tables = [shipped] if len(shipped) else []
    for name in (n for n in wanted if n not in set(shipped["name"])):
        path = cache_dir() / "properties" / f"{name}_n{n_images}_s{size}_seed{seed}.csv"
        if path.exists():
            tables.append(pd.read_csv(path))
            continue
        table = properties_table([name], n=n_images, seed=seed, size=size)
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, index=False)
        tables.append(table)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame({"name": []})


def study_report(path: str | Path, *, task: str | None = None, protocol: str | None = None,
                 metric: str = "test_accuracy", with_properties: bool = True) -> StudyReport:
    """:func:`analyse` of a results CSV, with the properties of its image-pattern datasets."""
    results = read_results(path)
    props = property_table(list(results["pretrain_dataset"].astype(str).unique())) if with_properties else None
    return analyse(results, metric=metric, task=task, protocol=protocol, properties=props)


def findings(report: StudyReport) -> list[str]:
    """The report in plain sentences, one per evaluation and one per notable property."""
    out = []
    for (task, protocol), rows in report.rows.groupby(["task", "protocol"], sort=False):
        refs = {k: rows[rows["kind"] == k]["mean"] for k in ("scratch", "floor")}
        ref_text = ", ".join(f"{k} {float(v.iloc[0]):.3f}" for k, v in refs.items() if len(v))
        sources = rows[~rows["kind"].isin(["scratch", "floor"])]
        sig = sources[sources["significant"] & (sources["diff_vs_scratch"] > 0)]
        worse = sources[sources["significant"] & (sources["diff_vs_scratch"] < 0)]
        above_floor = sources[sources["floor_ci_low"] > 0]
        best = sources.iloc[0] if len(sources) else None
        text = f"{task} ({protocol}, {int(rows['n_seeds'].max())} seeds; {ref_text}): "
        if best is not None:
            text += (f"best {best['pretrain_dataset']} {best['mean']:.3f} [{best['ci_low']:.3f}, {best['ci_high']:.3f}], "
                     f"{best['diff_vs_scratch']:+.3f} vs scratch. ")
        text += (f"{len(sig)} of {len(sources)} sources beat scratch after Benjamini-Hochberg correction"
                 + (f" ({', '.join(f'{r.pretrain_dataset} {r.diff_vs_scratch:+.3f}' for r in sig.itertuples())})"
                    if len(sig) else "") + f"; {len(worse)} are significantly worse; "
                 f"{len(above_floor)} beat the floor with their whole interval above it.")
        out.append(text)
    for row in report.ranking.itertuples():
        out.append(f"{row.task} ({row.protocol}): ranking of {row.n_sources} sources over {row.n_seeds} seeds, "
                   f"Kendall's W {row.kendalls_w:.2f} (mean Spearman between seeds {row.mean_spearman:.2f}).")
    if len(report.properties):
        notable = report.properties[report.properties["p_adjusted"] < ALPHA]
        if len(notable):
            for r in notable.itertuples():
                out.append(f"{r.task} ({r.protocol}): {r.property} correlates with accuracy, Pearson r {r.pearson_r:.2f} "
                           f"[{r.pearson_ci_low:.2f}, {r.pearson_ci_high:.2f}], adjusted p {r.p_adjusted:.3f}, "
                           f"n={r.n} datasets.")
        else:
            strongest = report.properties.loc[report.properties["pearson_r"].abs().idxmax()]
            out.append(f"No image property correlates with accuracy after correction (strongest: "
                       f"{strongest['property']} on {strongest['task']}, r {strongest['pearson_r']:.2f} "
                       f"[{strongest['pearson_ci_low']:.2f}, {strongest['pearson_ci_high']:.2f}], "
                       f"adjusted p {strongest['p_adjusted']:.2f}).")
    return out


__all__ = ["FLOOR", "ROW_COLUMNS", "SCRATCH", "SHIPPED_PROPERTIES", "SHIPPED_STUDY", "SOURCE_KINDS", "StudyReport",
           "analyse", "findings", "join_properties", "property_columns", "property_table", "seed_table",
           "source_kind", "study_report"]
