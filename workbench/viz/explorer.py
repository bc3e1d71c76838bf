"""The reconstruction explorer: pure state (:func:`explorer_state`), drawing
(:func:`plot_explorer`), the held-out samples it shows (:class:`DatasetSampler`), and the ipywidgets
UI that only wires the two (:class:`ReconstructionExplorer`), so tests check the figure data for
given widget values without a browser.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from workbench import patterns
from workbench.models.mae import MaskedAutoencoder
from workbench.models.masking import MASKINGS
from workbench.registry import unknown_name
from workbench.sources import heldout_batch, make_source
from workbench.viz.figures import masked_cmap
from workbench.viz.reconstruction import reconstruct


@dataclass
class ExplorerState:
    """Arrays behind one explorer figure: one sample at given widget values (numpy).

    Images are ``[F, T]`` (mel bins x frames, row 0 = lowest mel bin). Token maps are the token
    grid ``[rows, cols]``: ``(F/16, T/16)`` for patch tokens, ``(1, T/2)`` for frame tokens,
    row-major as the model numbers its tokens.
    """

    inputs: np.ndarray
    masked: np.ndarray  # input with removed tokens set to NaN
    recon: np.ndarray  # input on visible tokens, the prediction on removed ones
    error: np.ndarray  # |recon - input|, exactly 0 on visible tokens
    mask: np.ndarray  # [rows, cols] bool, True = removed
    token_loss: np.ndarray  # [rows, cols] MSE per removed token, NaN on visible ones
    loss: float  # the model's training loss on this sample (MSE and InfoNCE terms)
    mse: float
    tokens: str  # "patch" | "frame"
    mask_ratio: float  # as requested; the realised fraction is masked_fraction
    masking: str
    seed: int

    @property
    def masked_fraction(self) -> float:
        return float(self.mask.mean())

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.mask.shape)


def explorer_state(model: MaskedAutoencoder, x: torch.Tensor, *, mask_ratio: float, masking: str,
                   seed: int) -> ExplorerState:
    """What the explorer shows for one sample ``x: [1, F, T]`` (or ``[1, 1, F, T]``) and the widget
    values: the mask is drawn from ``seed`` alone, so equal values give equal figures."""
    if masking not in MASKINGS:
        raise ValueError(f"masking must be one of {MASKINGS}, got {masking!r}")
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 1:
        raise ValueError(f"x must be one sample [1, F, T] or [1, 1, F, T], got {tuple(x.shape)}")
    device = next(model.parameters()).device
    rec = reconstruct(model, x.to(device), mask_ratio=mask_ratio, masking=masking, seed=seed)
    grid = model.cfg.grid(x.shape[-1])
    return ExplorerState(
        inputs=rec.inputs[0], masked=rec.masked[0], recon=rec.recon[0], error=rec.error[0],
        mask=rec.mask[0].reshape(grid), token_loss=rec.token_loss[0].reshape(grid), loss=rec.loss,
        mse=rec.mse, tokens=model.cfg.tokens, mask_ratio=float(mask_ratio), masking=masking, seed=int(seed))


def plot_explorer(state: ExplorerState, *, title: str | None = None):
    """Five aligned panels: input, masked input, reconstruction (one colour scale), |error| on the
    removed tokens, and the per-token loss on the token grid (grey = visible, not scored)."""
    f, t = state.inputs.shape
    vmin, vmax = float(np.min(state.inputs)), float(np.max(state.inputs))  # sparse patterns defeat percentiles
    err_max = float(np.max(state.error)) or 1.0
    finite = state.token_loss[np.isfinite(state.token_loss)]
    panels = [
        ("input", state.inputs, masked_cmap(), {"vmin": vmin, "vmax": vmax}),
        ("masked input", state.masked, masked_cmap(), {"vmin": vmin, "vmax": vmax}),
        ("reconstruction", state.recon, masked_cmap(), {"vmin": vmin, "vmax": vmax}),
        ("|error|", state.error, masked_cmap("inferno"), {"vmin": 0.0, "vmax": err_max}),
        ("loss per token", state.token_loss, masked_cmap("viridis"),
         {"vmin": 0.0, "vmax": float(finite.max()) if finite.size else 1.0, "extent": (-0.5, t - 0.5, -0.5, f - 0.5)}),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(float(np.clip(2.2 * t / f, 5, 11)) + 1.5, 7.5), sharex=True,
                             layout="constrained")
    for ax, (label, arr, cmap, kw) in zip(axes, panels):
        im = ax.imshow(arr, origin="lower", aspect="auto", cmap=cmap, interpolation="nearest", **kw)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
        fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    axes[-1].set_xlabel("frame")
    rows, cols = state.grid
    fig.suptitle(title or (f"{state.masking} masking, {state.masked_fraction:.0%} of {rows * cols} {state.tokens} "
                           f"tokens removed (seed {state.seed})\nloss {state.loss:.3f}, MSE {state.mse:.3f}"),
                 fontsize=10)
    return fig


class DatasetSampler:
    """``sampler(i) -> [1, n_mels, frames]``: held-out sample ``i`` of a dataset
    (:func:`workbench.sources.heldout_batch`), normalised with the dataset's own statistics exactly
    as in pre-training. ``dataset`` is anything ``--dataset`` accepts: a pattern name, an image
    folder, or ``audio:SPEC``. The source is built on the first call, since its statistics may take
    seconds to estimate."""

    def __init__(self, dataset: str, *, frames: int, seed: int = 0, device: str | torch.device = "cpu") -> None:
        self.dataset = dataset
        self.frames = frames
        self.seed = seed
        self.device = device
        self._source = None

    def __call__(self, i: int) -> torch.Tensor:
        if i < 0:
            raise ValueError(f"sample index must be >= 0, got {i}")
        if self._source is None:
            self._source = make_source(self.dataset, frames=self.frames, seed=self.seed, device=self.device)
        return heldout_batch(self._source, 1, start=int(i))[0]

    def batch(self, n: int) -> torch.Tensor:
        """Samples ``0..n-1`` stacked: ``[n, 1, n_mels, frames]`` (what the explorer shows at those indices)."""
        return torch.stack([self(i) for i in range(n)])

    def __repr__(self) -> str:
        return f"DatasetSampler({self.dataset!r}, frames={self.frames}, seed={self.seed})"


def explorer_sources(datasets: Sequence[str] | None = None, *, frames: int, seed: int = 0,
                     audio: Sequence[str] = ("synth_sounds",), first: str | None = None,
                     device: str | torch.device = "cpu") -> dict[str, DatasetSampler]:
    """The explorer's data dropdown: ``{name: DatasetSampler}`` for every registered pattern (or
    the given ``datasets``), then ``audio:SPEC`` for each entry of ``audio`` (a task name such as
    ``synth_sounds``, ``TASK:ROOT`` or an audio folder). ``first`` (e.g. the run's dataset; a
    pattern alias is resolved to its registered name, anything else ``--dataset`` accepts is added)
    leads the list. Nothing is rendered until a sample is asked for."""
    names = list(patterns.names()) if datasets is None else list(datasets)
    if audio:
        names += [a if a.startswith("audio:") else f"audio:{a}" for a in audio]
    if first:
        names.insert(0, patterns.get(first).name if patterns.is_registered(first) else first)
    return {name: DatasetSampler(name, frames=frames, seed=seed, device=device) for name in dict.fromkeys(names)}


class ReconstructionExplorer:
    """ipywidgets UI over :func:`explorer_state` and :func:`plot_explorer`.

    ``model``: one model, or ``{label: model}`` for several checkpoints (e.g. a patch and a frame
    run on the same data). A checkpoint is trained with one tokenization, so the tokens dropdown
    appears only when there is a choice; otherwise the tokenization is shown as fixed.
    ``sources``: ``{name: sample(i) -> [1, F, T]}``, see :func:`explorer_sources`.

    Controls (``.controls``): ``source``, ``index``, ``mask_ratio``, ``masking``, ``seed`` and,
    with several models, ``model``. Any change recomputes ``.state`` (an :class:`ExplorerState`)
    and redraws ``.figure`` (shown as a PNG in ``.image``); a failure (e.g. an audio task that
    cannot load here) is reported in ``.status`` and leaves ``.state`` None. Display the object
    itself (or ``.box``) in Jupyter.
    """

    def __init__(self, model: MaskedAutoencoder | Mapping[str, MaskedAutoencoder],
                 sources: Mapping[str, Callable[[int], torch.Tensor]], *, source: str | None = None,
                 index: int = 0, max_index: int = 99, mask_ratio: float | None = None,
                 masking: str | None = None, seed: int = 0, cache_size: int = 16, dpi: int = 90) -> None:
        import ipywidgets as widgets

        self.models = {model.cfg.tokens: model} if isinstance(model, MaskedAutoencoder) else dict(model)
        if not self.models:
            raise ValueError("model is an empty mapping: pass a model or {label: model}")
        if not sources:
            raise ValueError("sources is empty: pass {name: sample(i) -> [1, F, T]}, e.g. explorer_sources(frames=256)")
        self.sources = dict(sources)
        source = source or next(iter(self.sources))
        if source not in self.sources:
            raise unknown_name("source", source, self.sources)
        first = next(iter(self.models.values()))
        masking = masking or first.cfg.masking
        if masking not in MASKINGS:
            raise ValueError(f"masking must be one of {MASKINGS}, got {masking!r}")
        mask_ratio = first.cfg.mask_ratio if mask_ratio is None else mask_ratio
        if not 0.0 <= mask_ratio <= 0.95:
            raise ValueError(f"mask_ratio must be in [0, 0.95] (the slider range), got {mask_ratio}")
        if not 0 <= index <= max_index:
            raise ValueError(f"index must be in [0, max_index={max_index}], got {index}")
        style = {"description_width": "80px"}
        self.controls = {
            "source": widgets.Dropdown(options=list(self.sources), value=source, description="data", style=style),
            "index": widgets.IntSlider(value=index, min=0, max=max_index, description="sample",
                                       continuous_update=False, style=style),
            "mask_ratio": widgets.FloatSlider(value=mask_ratio, min=0.0, max=0.95, step=0.05, readout_format=".2f",
                                              description="mask ratio", continuous_update=False, style=style),
            "masking": widgets.ToggleButtons(options=list(MASKINGS), value=masking, description="masking", style=style),
            "seed": widgets.IntText(value=seed, description="seed", style=style),
        }
        if len(self.models) > 1:
            self.controls["model"] = widgets.Dropdown(options=list(self.models), description="tokens", style=style)
            tokens_widget = self.controls["model"]
        else:
            c = first.cfg
            size = f"{c.patch_size}x{c.patch_size}" if c.tokens == "patch" else f"{c.n_mels}x{c.frame_width}"
            tokens_widget = widgets.HTML(f"tokens: <b>{c.tokens}</b> ({size}, fixed by the checkpoint)")
        self.status = widgets.HTML()
        # The figure is a PNG in an Image widget, not a display() into an Output widget: under
        # papermill the Output widget made the cell hang in about 1 run in 6 with ipykernel 7.4
        # (nbclient answers Output-widget captures with comm messages on the shell channel);
        # the Image widget never did in 30 runs.
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="100%", max_width="1100px"))
        self.dpi = dpi
        c = self.controls
        self.box = widgets.VBox([
            widgets.HBox([c["source"], tokens_widget]), widgets.HBox([c["index"], c["seed"]]),
            widgets.HBox([c["mask_ratio"], c["masking"]]), self.status, self.image,
        ])
        self.state: ExplorerState | None = None
        self.figure = None
        self._cache: dict[tuple[str, int], torch.Tensor] = {}
        self._cache_size = cache_size
        self._hold = False
        for w in self.controls.values():
            w.observe(self._on_change, names="value")
        self.refresh()

    def values(self) -> dict:
        """The current widget values by control name."""
        return {k: w.value for k, w in self.controls.items()}

    def update(self, **values) -> ExplorerState | None:
        """Set several controls at once (one recomputation), e.g. ``update(mask_ratio=0.9, seed=3)``."""
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise KeyError(f"unknown controls {unknown}; valid controls: {', '.join(self.controls)}")
        self._hold = True
        try:
            for k, v in values.items():
                self.controls[k].value = v
        finally:
            self._hold = False
        self.refresh()
        return self.state

    def sample(self, source: str, index: int) -> torch.Tensor:
        """``[1, F, T]`` input for a dropdown entry and index (cached: changing only the mask is cheap)."""
        key = (source, int(index))
        if key not in self._cache:
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = self.sources[source](int(index)).detach().float().cpu()
        return self._cache[key]

    def compute(self) -> ExplorerState:
        """The :class:`ExplorerState` for the current widget values (no drawing)."""
        v = self.values()
        model = self.models[v.get("model", next(iter(self.models)))]
        x = self.sample(v["source"], v["index"])
        return explorer_state(model, x, mask_ratio=float(v["mask_ratio"]), masking=v["masking"], seed=int(v["seed"]))

    def refresh(self) -> None:
        """Recompute and redraw for the current widget values."""
        v = self.values()
        try:
            state = self.compute()
        except Exception as exc:  # shown in the UI: one bad source must not break the explorer
            self.state = None
            self.status.value = f"<span style='color:#b71c1c'>{html.escape(v['source'])} #{v['index']}: " \
                                f"{type(exc).__name__}: {html.escape(str(exc))}</span>"
            self.image.value = b""
            return
        fig = plot_explorer(state, title=(
            f"{v['source']} #{v['index']}: {state.masking} masking, {state.masked_fraction:.0%} of "
            f"{math.prod(state.grid)} {state.tokens} tokens removed (seed {state.seed})\n"
            f"loss {state.loss:.3f}, MSE {state.mse:.3f}"))
        self.state, self.figure = state, fig
        self.status.value = (f"{v['source']} #{v['index']}: {int(state.mask.sum())} of {state.mask.size} tokens "
                             f"removed ({state.masked_fraction:.1%}), MSE on them {state.mse:.4f}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=self.dpi)
        self.image.value = buf.getvalue()
        plt.close(fig)  # shown through the image; closing keeps the inline backend from drawing it again

    def _on_change(self, change) -> None:
        if not self._hold:
            self.refresh()

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


def reconstruction_explorer(model: MaskedAutoencoder | Mapping[str, MaskedAutoencoder],
                            sources: Mapping[str, Callable[[int], torch.Tensor]], **options):
    """The explorer's widget box (``ReconstructionExplorer(model, sources, **options).box``)."""
    return ReconstructionExplorer(model, sources, **options).box


__all__ = ["DatasetSampler", "ExplorerState", "ReconstructionExplorer", "explorer_sources", "explorer_state",
           "plot_explorer", "reconstruction_explorer"]
