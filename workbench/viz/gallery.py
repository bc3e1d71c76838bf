"""Figures for ``notebooks/01_patterns.ipynb``: the gallery of pattern datasets and plots of their
image properties (:mod:`workbench.patterns.properties`).

Rendering is separate from plotting: :func:`render_samples` draws each dataset once, and the
gallery, the property frames and the plots all reuse those samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

import torch

from workbench import patterns
from workbench.patterns import procedural_audio
from workbench.patterns.convert import to_spectrogram
from workbench.patterns.properties import PROPERTIES, image_properties


class DatasetSamples(NamedTuple):
    name: str
    paper_id: str | None
    family: str
    native: torch.Tensor | None  # [n, C, S, S] in [0, 1] (image kinds), None for spectrogram kinds
    spectrogram: torch.Tensor  # [n, 1, 128, frames] in [0, 1]: what the MAE sees
    labels: torch.Tensor | None  # [n] category ids where the dataset has categories


def label(s: DatasetSamples) -> str:
    """Display name of a dataset: ``(p) fractaldb1k``, or the bare name for our additions."""
    return f"({s.paper_id}) {s.name}" if s.paper_id else s.name


def resolve_names(datasets: str | Sequence[str]) -> list[str]:
    """``"all"``, a comma-separated string or a list -> canonical registered names (KeyError lists
    the valid names when one is unknown)."""
    if isinstance(datasets, str):
        if datasets.strip() == "all":
            return patterns.names()
        datasets = [d.strip() for d in datasets.split(",") if d.strip()]
    if not datasets:
        raise ValueError('no datasets given: pass "all" or comma-separated names')
    return [patterns.get(d).name for d in datasets]


def render_samples(names: Sequence[str], *, n: int, seed: int = 0, frames: int = 1024,
                   device: str | torch.device = "cpu") -> list[DatasetSamples]:
    """``n`` samples of each dataset, native and spectrogram-shaped, on the CPU.

    For image kinds the spectrogram is the shared converter applied to the native rendering,
    which is exactly what ``patterns.generate(name, n, seed=seed, frames=frames)`` returns.
    """
    out = []
    for name in names:
        spec = patterns.get(name)
        if spec.kind == "image":
            batch = patterns.render(spec.name, n, seed=seed, device=device)
            native = batch.images.float().cpu()
            spectrogram = to_spectrogram(native, frames=frames)
        else:
            batch = patterns.generate_with_labels(spec.name, n, seed=seed, frames=frames, device=device)
            native, spectrogram = None, batch.images.cpu()
        labels = batch.labels.cpu() if batch.labels is not None else None
        out.append(DatasetSamples(spec.name, spec.paper_id, spec.family, native, spectrogram, labels))
    return out


def plot_gallery(samples: Sequence[DatasetSamples], *, thumb: float = 1.3):
    """One row per dataset: the native images, then the same samples as spectrogram-shaped inputs
    stacked in one panel (mel bin 0 at the bottom, as a spectrogram is drawn)."""
    import matplotlib.pyplot as plt

    n = max(s.spectrogram.shape[0] for s in samples)
    frames = samples[0].spectrogram.shape[-1]
    # Stacking n spectrograms in one thumbnail-high panel keeps their aspect at width T / (128 n).
    spec_width = min(max(frames / 128 / n, 1.5), 6.0)
    fig = plt.figure(figsize=(thumb * (n + spec_width), thumb * len(samples) + 0.4), layout="constrained")
    grid = fig.add_gridspec(len(samples), n + 1, width_ratios=[1.0] * n + [spec_width])
    for row, s in enumerate(samples):
        for j in range(n):
            ax = fig.add_subplot(grid[row, j])
            ax.set_xticks([]), ax.set_yticks([])
            if s.native is not None and j < s.native.shape[0]:
                img = s.native[j].permute(1, 2, 0).numpy()
                ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
                if s.labels is not None:
                    ax.set_title(f"class {int(s.labels[j])}", fontsize=7, pad=2)
            else:
                ax.set_frame_on(False)  # not axis("off"): that would hide the row's label
                if j == 0 and s.native is None:
                    ax.text(0.5, 0.5, "spectrogram\nsource", ha="center", va="center", fontsize=8,
                            color="grey", transform=ax.transAxes)
            if j == 0:
                ax.set_ylabel(label(s), rotation=0, ha="right", va="center", fontsize=9)
        ax = fig.add_subplot(grid[row, n])
        stacked = torch.cat([x[0].flip(0) for x in s.spectrogram], dim=0)  # [n * 128, frames]
        ax.imshow(stacked.numpy(), cmap="magma", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        for k in range(1, s.spectrogram.shape[0]):
            ax.axhline(k * 128 - 0.5, color="white", linewidth=1)
        ax.set_xticks([]), ax.set_yticks([])
        if row == 0:
            ax.set_title(f"as MAE input: {n} x [128 x {frames}]", fontsize=9)
    fig.suptitle("Synthetic pattern datasets: native images | spectrogram-shaped inputs")
    return fig


def sample_properties(samples: Sequence[DatasetSamples]):
    """Per-image properties of the samples (native images, or the spectrogram for spectrogram kinds).

    Returns ``(long, table)``: ``long`` has one row per image and property (``dataset``, ``name``,
    ``paper_id``, ``family``, ``image``, ``property``, ``value``); ``table`` one row per dataset with
    the mean of each property, in the layout of :func:`properties.properties_table`.
    """
    import pandas as pd

    records, rows = [], []
    for s in samples:
        images = s.native if s.native is not None else s.spectrogram
        props = image_properties(images)
        meta = {"name": s.name, "paper_id": s.paper_id, "family": s.family}
        rows.append({**meta, "kind": "image" if s.native is not None else "spectrogram",
                     **{k: float(v.double().mean()) for k, v in props.items()}})
        for k, v in props.items():
            records += [{"dataset": label(s), **meta, "image": i, "property": k, "value": float(x)}
                        for i, x in enumerate(v.tolist())]
    return pd.DataFrame(records), pd.DataFrame(rows)


def plot_property_strips(long, *, cols: int = 4):
    """One panel per property: the dataset means (bars) and every image's value (dots)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    props = list(dict.fromkeys(long["property"]))
    datasets = list(dict.fromkeys(long["dataset"]))
    rows = -(-len(props) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 0.22 * len(datasets) * rows + 1.6 * rows),
                             layout="constrained", squeeze=False)
    for ax, prop in zip(axes.flat, props):
        d = long[long["property"] == prop]
        sns.barplot(data=d, y="dataset", x="value", hue="family", order=datasets, errorbar=None,
                    dodge=False, alpha=0.45, legend=False, ax=ax)
        sns.stripplot(data=d, y="dataset", x="value", order=datasets, color="black", size=2.5, ax=ax)
        ax.set_title(prop, fontsize=10)
        ax.set_xlabel(""), ax.set_ylabel("")
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(props):]:
        ax.axis("off")
    fig.suptitle("Image properties per dataset (bars: mean, dots: images)")
    return fig


def plot_property_correlation(table, *, method: str = "spearman"):
    """Heat-map of the correlation between properties across datasets (one point per dataset).

    ``method`` is a pandas correlation ("spearman", "pearson", "kendall"); properties that are
    constant across the datasets have no correlation and stay blank.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    corr = table[[p for p in PROPERTIES if p in table]].corr(method=method)
    fig, ax = plt.subplots(figsize=(7.5, 6.2), layout="constrained")
    sns.heatmap(corr, vmin=-1, vmax=1, center=0, cmap="vlag", annot=True, fmt=".2f",
                annot_kws={"fontsize": 7}, square=True, ax=ax)
    ax.set_title(f"{method.capitalize()} correlation of properties across {len(table)} datasets")
    return fig


def write_audio_examples(n: int, *, seed: int, frames: int, out_dir: str | Path,
                         name: str = "procedural_audio") -> list[Path]:
    """Write the waveforms of the first ``n`` clips of a procedural-audio source as 16 kHz WAVs.

    The clips are exactly those whose log-mels ``patterns.generate(name, n, seed=seed,
    frames=frames)`` returns (same seed, same synthesiser call), so the gallery row can be heard.
    Returns the paths ``out_dir/{name}_{seed}_{i}.wav``.
    """
    import soundfile as sf

    spec = patterns.get(name)
    if spec.family != "procedural_audio":
        raise ValueError(f"{name!r} is not a procedural-audio source; choose one of "
                         f"{', '.join(k for k in patterns.names() if patterns.get(k).family == 'procedural_audio')}")
    mix = "full" if spec.name == "procedural_audio" else spec.name.removeprefix("procedural_audio_")
    seconds = procedural_audio.samples_for_frames(frames) / procedural_audio.SAMPLE_RATE
    waves = procedural_audio.synthesize(n, seconds=seconds, generator=torch.Generator().manual_seed(seed), mix=mix)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, w in enumerate(waves.cpu().numpy()):
        path = out / f"{spec.name}_{seed}_{i}.wav"
        sf.write(path, w, procedural_audio.SAMPLE_RATE, subtype="PCM_16")
        paths.append(path)
    return paths
