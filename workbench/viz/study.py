"""Figures of the study (:mod:`workbench.study` computes the numbers): the differences to scratch
with their intervals (a forest plot), each image property against accuracy with the references
drawn in, and the sources grouped by kind."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from workbench.study import SOURCE_KINDS, StudyReport, join_properties

KIND_COLOURS = dict(zip(SOURCE_KINDS, ("#616161", "#9e9e9e", "#1f77b4", "#2ca02c", "#d62728")))


def plot_forest(report: StudyReport, *, title: str = ""):
    """Per evaluation (a panel each): every source's mean difference to scratch with its 95%
    interval, significant ones (Benjamini-Hochberg) filled, the floor's difference as a line."""
    groups = list(report.rows.groupby(["task", "protocol"], sort=False))
    if not groups:
        raise ValueError("the report has no rows to plot")
    height = max(len(rows) for _, rows in groups) * 0.28 + 1.2
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), height), squeeze=False, sharey=False)
    for ax, ((task, protocol), rows) in zip(axes[0], groups):
        src = rows[~rows["kind"].isin(["scratch", "floor"])].sort_values("diff_vs_scratch")
        y = np.arange(len(src))
        for yi, r in zip(y, src.itertuples()):
            colour = KIND_COLOURS[r.kind]
            ax.plot([r.diff_ci_low, r.diff_ci_high], [yi, yi], color=colour, lw=1.5)
            ax.scatter([r.diff_vs_scratch], [yi], color=colour if r.significant else "white", edgecolor=colour,
                       zorder=3, s=30)
        ax.axvline(0, color=KIND_COLOURS["scratch"], lw=1, ls="--", label="scratch")
        floor = rows[rows["kind"] == "floor"]
        scratch = rows[rows["kind"] == "scratch"]
        if len(floor) and len(scratch):
            ax.axvline(float(floor["mean"].iloc[0] - scratch["mean"].iloc[0]), color=KIND_COLOURS["floor"], lw=1.5,
                       label="floor")
        ax.set_yticks(y, src["pretrain_dataset"], fontsize=7)
        ax.set_xlabel(f"{report.metric} minus scratch (paired by seed)")
        ax.set_title(f"{task}, {protocol}", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title or "difference to scratch with 95% CIs (filled: significant after Benjamini-Hochberg)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _short_name(name: str) -> str:
    """The paper's letter of a pattern dataset (a-q), else the name's first 8 characters."""
    from workbench import patterns

    paper_id = patterns.get(name).paper_id if patterns.is_registered(name) else None
    return paper_id if isinstance(paper_id, str) else name[:8]


def plot_property_vs_accuracy(report: StudyReport, properties: pd.DataFrame, *, task: str, protocol: str,
                              cols: int = 4):
    """One panel per property: each image-pattern dataset's mean accuracy (with its 95% interval
    as an error bar) against the property, scratch and the floor as horizontal lines with their
    intervals as bands, titled with Pearson r [CI] and the adjusted p."""
    rows = report.evaluation(task, protocol)
    corr = report.properties[(report.properties["task"] == task) & (report.properties["protocol"] == protocol)]
    joined = join_properties(rows, properties)
    props = list(corr["property"]) if len(corr) else []
    n_rows = max(1, -(-len(props) // cols))
    fig, axes = plt.subplots(n_rows, cols, figsize=(3.4 * cols, 2.9 * n_rows), squeeze=False)
    for ax, prop in zip(axes.flat, props):
        for kind in ("scratch", "floor"):
            ref = rows[rows["kind"] == kind]
            if len(ref):
                r = ref.iloc[0]
                ax.axhline(r["mean"], color=KIND_COLOURS[kind], lw=1.2, label=kind)
                if np.isfinite(r["ci_low"]):
                    ax.axhspan(r["ci_low"], r["ci_high"], color=KIND_COLOURS[kind], alpha=0.15)
        acc = joined["accuracy"]
        err = np.vstack([acc - joined["accuracy_ci_low"], joined["accuracy_ci_high"] - acc]).clip(min=0)
        ax.errorbar(joined[prop], acc, yerr=np.nan_to_num(err), fmt="o", ms=4, color=KIND_COLOURS[
            "image pattern"], ecolor="#90caf9", capsize=2)
        for name, x, y in zip(joined["pretrain_dataset"], joined[prop], acc):
            ax.annotate(_short_name(name), (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
        c = corr[corr["property"] == prop].iloc[0]
        ax.set_title(f"{prop}\nr={c.pearson_r:.2f} [{c.pearson_ci_low:.2f}, {c.pearson_ci_high:.2f}], "
                     f"p_adj={c.p_adjusted:.2f}", fontsize=8)
        ax.set_ylabel(report.metric if ax in axes[:, 0] else "")
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(props):]:
        ax.set_visible(False)
    if props:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"image properties vs {task} {protocol} {report.metric} (error bars: 95% CI over seeds)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_source_kinds(report: StudyReport, *, task: str, protocol: str):
    """Every source's mean with its 95% interval, grouped and coloured by kind (floor, scratch,
    image pattern, procedural audio, real audio), seeds as dots."""
    rows = report.evaluation(task, protocol)
    rows = rows.assign(order=rows["kind"].map(SOURCE_KINDS.index)).sort_values(["order", "mean"])
    seeds = report.seeds
    fig, ax = plt.subplots(figsize=(1.2 + 0.42 * len(rows), 3.6))
    for i, r in enumerate(rows.itertuples()):
        colour = KIND_COLOURS[r.kind]
        ax.bar(i, r.mean, color=colour, alpha=0.75, label=r.kind)
        if np.isfinite(r.ci_low):
            ax.plot([i, i], [r.ci_low, r.ci_high], color="black", lw=1)
        mine = seeds[(seeds["task"] == task) & (seeds["protocol"] == protocol)
                     & (seeds["pretrain_dataset"] == r.pretrain_dataset)]["value"]
        ax.scatter([i] * len(mine), mine, color="black", s=6, zorder=3)
    ax.set_xticks(range(len(rows)), ["scratch" if d == "none" else d for d in rows["pretrain_dataset"]],
                  rotation=60, ha="right", fontsize=7)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    low = float(np.nanmin(rows["ci_low"].fillna(rows["mean"])))
    ax.set_ylim(max(0.0, low - 0.05), min(1.0, float(rows["mean"].max()) + 0.08))
    ax.set_ylabel(report.metric)
    ax.set_title(f"{task}, {protocol}: sources by kind (bars: mean, lines: 95% CI, dots: seeds)", fontsize=9)
    fig.tight_layout()
    return fig


__all__ = ["KIND_COLOURS", "plot_forest", "plot_property_vs_accuracy", "plot_source_kinds"]
