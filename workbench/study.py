"""The study: which pattern properties predict downstream accuracy (the framework paper's Fig. 3).

Two inputs are joined per pre-training dataset:

* the results CSV that ``workbench.finetune`` grows (``pretrain_dataset, task, protocol, fold,
  metric, value, ...``), averaged over folds and seeds;
* a property table from :func:`workbench.patterns.properties.properties_table` (one row per
  dataset, column ``name`` plus one column per property).

:func:`correlations` then gives Pearson r (and Spearman rho, p-values, n) per property and task.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ID_COLUMNS = ("name", "paper_id", "family", "kind")


def load_results(path: str | Path, *, metric: str = "test_accuracy", protocol: str | None = None) -> pd.DataFrame:
    """Mean and spread of ``metric`` per (pretrain_dataset, task, protocol) from a results CSV.

    Columns: ``pretrain_dataset, task, protocol, value, value_std, runs``. Rows of scratch encoders
    (``pretrain_dataset == "none"``) are kept: they are the baseline, not a pattern dataset.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results CSV at {path}: run `python -m workbench finetune ...` first")
    df = pd.read_csv(path)
    missing = {"pretrain_dataset", "task", "protocol", "metric", "value"} - set(df.columns)
    if missing:
        raise ValueError(f"{path} lacks the results columns {sorted(missing)}")
    df = df[df["metric"] == metric]
    if protocol is not None:
        df = df[df["protocol"] == protocol]
    if df.empty:
        raise ValueError(f"{path} has no rows with metric={metric!r}" + (f" and protocol={protocol!r}" if protocol else ""))
    # Folds of one run average first, so a 5-fold run and a 1-fold run each count once per seed.
    keys = ["pretrain_dataset", "task", "protocol"]
    per_run = df.groupby(keys + (["seed"] if "seed" in df.columns else []), as_index=False)["value"].mean()
    out = per_run.groupby(keys)["value"].agg(value="mean", value_std="std", runs="count").reset_index()
    return out


def join(results: pd.DataFrame, properties: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``results`` whose ``pretrain_dataset`` is a row ``name`` of ``properties``, with the
    properties as extra columns (pattern aliases and run-folder labels are matched by name)."""
    from workbench import patterns

    canonical = lambda n: patterns.get(n).name if patterns.is_registered(n) else n  # noqa: E731
    results = results.assign(pretrain_dataset=results["pretrain_dataset"].map(canonical))
    props = properties.rename(columns={"name": "pretrain_dataset"})
    return results.merge(props, on="pretrain_dataset", how="inner")


def property_columns(table: pd.DataFrame) -> list[str]:
    """Numeric property columns of a property table (identifiers and result columns excluded)."""
    skip = set(ID_COLUMNS) | {"pretrain_dataset", "task", "protocol", "value", "value_std", "runs"}
    return [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])]


def correlations(joined: pd.DataFrame, *, properties: list[str] | None = None) -> pd.DataFrame:
    """Pearson r / Spearman rho (with two-sided p-values) of each property against ``value``,
    per (task, protocol). Columns: ``task, protocol, property, n, pearson_r, pearson_p,
    spearman_r, spearman_p``. Fewer than 3 datasets, or a constant column, give NaN."""
    from scipy import stats

    properties = properties or property_columns(joined)
    rows = []
    for (task, protocol), group in joined.groupby(["task", "protocol"]):
        y = group["value"].to_numpy(float)
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


def plot_property_vs_accuracy(joined: pd.DataFrame, corr: pd.DataFrame, *, task: str, protocol: str,
                              properties: list[str] | None = None, cols: int = 4):
    """One seaborn regression plot per property (x: property, y: accuracy), titled with r, rho, n."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = joined[(joined["task"] == task) & (joined["protocol"] == protocol)]
    properties = properties or property_columns(joined)
    rows = -(-len(properties) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, prop in zip(axes.flat, properties):
        sns.regplot(data=data, x=prop, y="value", ax=ax, scatter_kws={"s": 25}, ci=None)
        for _, row in data.iterrows():
            label = row.get("paper_id") if isinstance(row.get("paper_id"), str) else row["pretrain_dataset"][:10]
            ax.annotate(label, (row[prop], row["value"]), fontsize=7, xytext=(2, 2), textcoords="offset points")
        c = corr[(corr["task"] == task) & (corr["protocol"] == protocol) & (corr["property"] == prop)].iloc[0]
        ax.set_title(f"{prop}\nr={c.pearson_r:.2f} (p={c.pearson_p:.2g}), rho={c.spearman_r:.2f}, n={c.n}", fontsize=8)
        ax.set_ylabel("accuracy" if ax in axes[:, 0] else "")
    for ax in list(axes.flat)[len(properties):]:
        ax.set_visible(False)
    fig.suptitle(f"pattern properties vs {task} {protocol} accuracy", fontsize=10)
    fig.tight_layout()
    return fig


def plot_correlation_heatmap(corr: pd.DataFrame, *, value: str = "pearson_r"):
    """Heat-map of ``value`` (default Pearson r): properties x (task, protocol)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    table = corr.pivot_table(index="property", columns=["task", "protocol"], values=value)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * max(1, table.shape[1]), 0.35 * table.shape[0] + 1.5))
    sns.heatmap(table, annot=True, fmt=".2f", cmap="RdBu_r", vmin=-1, vmax=1, ax=ax, cbar_kws={"label": value})
    ax.set_title(f"{value} of each property with downstream accuracy", fontsize=10)
    fig.tight_layout()
    return fig


SOURCE_KINDS = ("scratch", "image pattern", "procedural audio", "real audio")


def source_kind(pretrain_dataset: str) -> str:
    """Which family a results row's pre-training source belongs to (see :data:`SOURCE_KINDS`)."""
    from workbench import patterns

    if pretrain_dataset in ("none", "scratch"):
        return "scratch"
    if pretrain_dataset.startswith(("audio:", "audio_")):
        return "real audio"
    if patterns.is_registered(pretrain_dataset):
        return "procedural audio" if patterns.get(pretrain_dataset).kind == "spectrogram" else "image pattern"
    return "image pattern"  # an image folder


def compare_sources(path: str | Path, *, task: str, protocol: str = "linear",
                    metric: str = "test_accuracy") -> pd.DataFrame:
    """Per-seed results of one task and protocol with each row's :func:`source_kind`: the table
    behind the scratch / image pattern / procedural audio / real audio comparison."""
    df = pd.read_csv(path)
    df = df[(df["metric"] == metric) & (df["task"] == task) & (df["protocol"] == protocol)]
    if df.empty:
        raise ValueError(f"{path} has no {metric} rows for task={task!r}, protocol={protocol!r}")
    per_seed = df.groupby(["pretrain_dataset", "seed"], as_index=False)["value"].mean()  # folds first
    per_seed["kind"] = per_seed["pretrain_dataset"].map(source_kind)
    return per_seed


def plot_source_comparison(per_seed: pd.DataFrame, *, title: str = ""):
    """Bars (mean over seeds, +- std) per pre-training source, coloured by kind, seeds as dots."""
    import matplotlib.pyplot as plt

    colours = dict(zip(SOURCE_KINDS, ("#9e9e9e", "#1f77b4", "#2ca02c", "#d62728")))
    summary = per_seed.groupby(["pretrain_dataset", "kind"], as_index=False)["value"].agg(["mean", "std", "count"])
    summary["order"] = summary["kind"].map(SOURCE_KINDS.index)
    summary = summary.sort_values(["order", "mean"]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(1.4 + 1.1 * len(summary), 3.4))
    for i, row in summary.iterrows():
        ax.bar(i, row["mean"], yerr=row["std"] if row["count"] > 1 else 0, color=colours[row["kind"]],
               capsize=4, label=row["kind"])
        seeds = per_seed[per_seed["pretrain_dataset"] == row["pretrain_dataset"]]["value"]
        ax.scatter([i] * len(seeds), seeds, color="black", s=10, zorder=3)
        top = max(row["mean"] + (row["std"] if row["count"] > 1 else 0), float(seeds.max()))
        ax.annotate(f"{row['mean']:.3f}", (i, top), ha="center", va="bottom", fontsize=8,
                    xytext=(0, 3), textcoords="offset points")
    ax.set_xticks(range(len(summary)), ["scratch" if d == "none" else d for d in summary["pretrain_dataset"]],
                  rotation=20, ha="right", fontsize=8)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_ylim(0, min(1.0, float(per_seed["value"].max()) + 0.1))
    ax.set_ylabel("test accuracy")
    ax.set_title(title or "pre-training source comparison", fontsize=10)
    fig.tight_layout()
    return fig
