"""Figures of the study: each image property against downstream accuracy, the correlation
heat-map, and the comparison of pre-training source kinds (:mod:`workbench.study` computes the
numbers)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from workbench.results import summarize
from workbench.study import SOURCE_KINDS, property_columns


def plot_property_vs_accuracy(joined: pd.DataFrame, corr: pd.DataFrame, *, task: str, protocol: str,
                              properties: list[str] | None = None, cols: int = 4):
    """One seaborn regression plot per property (x: property, y: accuracy), titled with r, rho, n."""
    data = joined[(joined["task"] == task) & (joined["protocol"] == protocol)]
    properties = properties or property_columns(joined)
    rows = -(-len(properties) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, prop in zip(axes.flat, properties):
        sns.regplot(data=data, x=prop, y="value_mean", ax=ax, scatter_kws={"s": 25}, ci=None)
        for _, row in data.iterrows():
            label = row.get("paper_id") if isinstance(row.get("paper_id"), str) else row["pretrain_dataset"][:10]
            ax.annotate(label, (row[prop], row["value_mean"]), fontsize=7, xytext=(2, 2), textcoords="offset points")
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
    table = corr.pivot_table(index="property", columns=["task", "protocol"], values=value)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * max(1, table.shape[1]), 0.35 * table.shape[0] + 1.5))
    sns.heatmap(table, annot=True, fmt=".2f", cmap="RdBu_r", vmin=-1, vmax=1, ax=ax, cbar_kws={"label": value})
    ax.set_title(f"{value} of each property with downstream accuracy", fontsize=10)
    fig.tight_layout()
    return fig


def plot_source_comparison(per_seed: pd.DataFrame, *, title: str = ""):
    """Bars (mean over seeds, +- std) per pre-training source, coloured by kind, seeds as dots."""
    colours = dict(zip(SOURCE_KINDS, ("#9e9e9e", "#1f77b4", "#2ca02c", "#d62728")))
    summary = summarize(per_seed).rename(columns={"value_mean": "mean", "value_std": "std", "n_seeds": "count"})
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


__all__ = ["plot_correlation_heatmap", "plot_property_vs_accuracy", "plot_source_comparison"]
