"""Embeddings of audio from a pre-trained encoder: one vector per clip, one per time step.

>>> from workbench import embed
>>> r = embed("sounds/", init="exports/fdb")      # a folder, files, or 16 kHz waveforms
>>> r.clip.shape, r.tokens[0].shape, r.timestamps_ms[0][:3]
((12, 192), (31, 192), array([ 87.5, 247.5, 407.5]))
>>> r.save("sounds.npz")

``init`` is a pre-training run folder, its checkpoint file or an export folder
(:mod:`workbench.export`); the model's inputs are made as in pre-training: Kaldi log-mel
(:func:`workbench.audio.frontend.fbank`), normalised with
:func:`workbench.checkpoint.audio_stats` (the run's statistics when it was pre-trained on audio,
AudioSet's when on patterns), windows of the run's ``frames``.

Conventions (the choices this module makes):

* **Windows.** A clip is cut into consecutive windows of ``frames`` log-mel frames (10 ms each);
  the last is zero-padded in the log-mel domain before normalisation, as
  :func:`~workbench.audio.frontend.wav2fbank` pads a short clip. A clip no longer than one window
  gives exactly the input :func:`wav2fbank` + :func:`normalize` give.
* **Clip embedding** ``[D]``: per window the encoder's pooled output
  (:meth:`~workbench.models.mae.MaskedAutoencoder.forward_features`: ``pool="mean"`` the mean of
  every token output, padding included, ``"cls"`` the CLS output), then the mean over windows.
* **Token embeddings** ``[T, D]``: one vector per token *column* (time step). Frame tokens are
  columns already; for patch tokens the outputs of the ``n_mels / patch_size`` frequency rows of a
  column (8 for 128 mel bins) are averaged into one vector, so every model gives a time series.
  The CLS output is not a token.
* **Timestamps** ``[T]`` in ms: the centre of a column's time span. A column covers log-mel frames
  ``[j w, (j + 1) w)`` (``w`` the token width in frames), frame ``k`` covers
  ``[10 k, 10 k + 25)`` ms, so the centre is ``10 j w + (10 (w - 1) + 25) / 2`` (87.5, 247.5, ...
  for 16-frame patches; 17.5, 37.5, ... for 2-frame tokens): evenly spaced by ``10 w`` ms and
  continuing across windows. Columns whose centre lies past the end of the audio (the padding of
  the last window) are dropped, but a clip keeps at least its first column.

The ``.npz`` written by :meth:`EmbedResult.save` holds plain arrays only (it loads with
``allow_pickle=False``): ``paths`` [n] str, ``clip`` [n, D] float32, ``tokens`` [n, T_max, D]
float32 zero-padded after each row's ``lengths`` [n] int64 tokens, ``timestamps_ms`` [n, T_max]
float64 NaN-padded, ``pool`` (str). A folder gives one row per audio file, named by its path
relative to the folder; a file by the path as given; a waveform ``<wave i>``.
"""

from __future__ import annotations

import math
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn

from workbench import checkpoint
from workbench.audio.clips import AUDIO_SUFFIXES, audio_files, single_thread
from workbench.audio.frontend import (
    FRAME_LENGTH_MS, FRAME_SHIFT_MS, SAMPLE_RATE, AudioLoadError, NormStats, crop_or_pad, fbank, load_audio, normalize,
)
from workbench.distributed import resolve_device
from workbench.models.mae import MaskedAutoencoder

POOLS = ("mean", "cls")
DEFAULT_BATCH = 32  # windows per encoder call


def log_mel_windows(wave: torch.Tensor, *, frames: int, stats: NormStats, n_mels: int = 128) -> torch.Tensor:
    """Normalised model inputs ``[W, 1, n_mels, frames]`` of a 16 kHz mono ``wave [samples]``:
    its log-mel cut into ``W = ceil(n_frames / frames)`` consecutive windows (at least one), the
    last zero-padded in the log-mel domain (:func:`crop_or_pad`), then :func:`normalize`.
    Computed on ``wave``'s device."""
    if wave.ndim != 1 or wave.numel() == 0:
        raise ValueError(f"expected a non-empty mono waveform [samples], got shape {tuple(wave.shape)}")
    with single_thread() if wave.device.type == "cpu" else nullcontext():
        spec = fbank(wave.float(), n_mels=n_mels)  # [n_frames, n_mels]
    n_windows = max(1, math.ceil(spec.shape[0] / frames))
    x = torch.stack([crop_or_pad(spec[k * frames:(k + 1) * frames], frames).T for k in range(n_windows)])
    return normalize(x[:, None], stats)


@dataclass(frozen=True)
class WaveEmbedding:
    """The embeddings of one waveform (see the module docstring)."""

    clip: torch.Tensor  # [D] mean over windows of the pooled encoder output
    tokens: torch.Tensor  # [T, D] one vector per token column
    timestamps_ms: torch.Tensor  # [T] float64 centre of each column's time span


class AudioEmbedder(nn.Module):
    """A pre-trained encoder with the front-end it was trained with: waveforms in, embeddings out.

    ``stats`` and ``frames`` are the run's normalisation statistics and input width; ``pool`` is
    ``"mean"`` or ``"cls"`` (needs an encoder built with ``use_cls``). The encoder is in eval mode
    and runs without gradients."""

    def __init__(self, encoder: MaskedAutoencoder, *, stats: NormStats, frames: int, pool: str = "mean",
                 source: str = "") -> None:
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        if pool == "cls" and not encoder.cfg.use_cls:
            raise ValueError(f"pool='cls' needs an encoder pre-trained with use_cls=True; "
                             f"{source or 'this encoder'} has no CLS token: use pool='mean'")
        if frames % encoder.cfg.token_width:
            raise ValueError(f"frames={frames} is not a multiple of the token width {encoder.cfg.token_width}")
        self.encoder = encoder
        self.stats = stats
        self.frames = frames
        self.pool = pool
        self.source = source
        self.eval()

    @property
    def embedding_size(self) -> int:
        return int(self.encoder.cfg.enc_dim)

    @property
    def device(self) -> torch.device:
        return self.encoder.patch_embed.weight.device

    def windows(self, wave: torch.Tensor) -> torch.Tensor:
        """``[W, 1, n_mels, frames]`` model inputs of ``wave`` (:func:`log_mel_windows`)."""
        return log_mel_windows(wave, frames=self.frames, stats=self.stats, n_mels=self.encoder.cfg.n_mels)

    def timestamps_ms(self, n_windows: int) -> torch.Tensor:
        """Centres ``[n_windows * columns]`` (float64, ms) of the token columns of consecutive windows."""
        width = self.encoder.cfg.token_width
        columns = n_windows * (self.frames // width)
        first_frame = torch.arange(columns, dtype=torch.float64) * width
        return first_frame * FRAME_SHIFT_MS + ((width - 1) * FRAME_SHIFT_MS + FRAME_LENGTH_MS) / 2

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows ``x: [B, 1, n_mels, frames]`` -> ``(pooled [B, D], columns [B, frames / w, D])``:
        the pooled encoder output (``forward_features(pool)``) and one vector per token column
        (the frequency rows of patch tokens averaged)."""
        cfg = self.encoder.cfg
        rows, cols = cfg.grid(x.shape[-1])
        h = self.encoder.forward_features(x.to(self.device), pool="none")  # [B, prefix + L, D]
        tokens = h[:, 1:] if cfg.use_cls else h
        pooled = h[:, 0] if self.pool == "cls" else tokens.mean(dim=1)
        return pooled, tokens.reshape(len(h), rows, cols, -1).mean(dim=1)

    def embed_waves(self, waves: Iterable[torch.Tensor], *, batch_size: int = DEFAULT_BATCH
                    ) -> Iterator[WaveEmbedding]:
        """One :class:`WaveEmbedding` per 16 kHz mono waveform, in order, the windows of
        consecutive waveforms sharing encoder calls of up to ``batch_size`` windows
        (:func:`batched_windows`; ``waves`` is consumed lazily)."""
        for (pooled, columns), n_samples in batched_windows(waves, windows=self.windows, run=self.encode,
                                                            batch_size=batch_size):
            times = self.timestamps_ms(len(pooled))
            # the last window's padding lies past the audio: keep the columns centred inside it
            keep = max(1, int((times <= n_samples * 1000.0 / SAMPLE_RATE).sum()))
            tokens = columns.reshape(-1, columns.shape[-1])
            yield WaveEmbedding(pooled.mean(dim=0), tokens[:keep], times[:keep])


def batched_windows(waves: Iterable[torch.Tensor], *, windows: Callable[[torch.Tensor], torch.Tensor],
                    run: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], batch_size: int = DEFAULT_BATCH
                    ) -> Iterator[tuple[tuple[torch.Tensor, ...], int]]:
    """For each waveform of ``waves`` in order: ``(outputs, n_samples)``, where ``outputs`` are the
    rows of ``run``'s output tensors that belong to its ``W`` windows (``windows(wave)``, ``[W, ...]``).

    Windows of consecutive waveforms are concatenated and ``run`` gets up to ``batch_size`` of
    them at a time (many short clips cost a few calls, not one each); ``waves`` is read lazily,
    a few waveforms ahead of what was yielded."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pending: list[tuple[int, int]] = []  # (windows, samples) per waveform not yet run
    parts: list[torch.Tensor] = []
    for wave in waves:
        x = windows(wave)
        pending.append((len(x), wave.numel()))
        parts.append(x)
        if sum(k for k, _ in pending) >= batch_size:
            yield from _run_pending(pending, torch.cat(parts), run, batch_size)
            pending, parts = [], []
    if pending:
        yield from _run_pending(pending, torch.cat(parts), run, batch_size)


def _run_pending(pending: list[tuple[int, int]], x: torch.Tensor, run: Callable, batch_size: int
                 ) -> Iterator[tuple[tuple[torch.Tensor, ...], int]]:
    calls = [run(x[lo:lo + batch_size]) for lo in range(0, len(x), batch_size)]
    outputs = tuple(torch.cat(chunks) for chunks in zip(*calls))
    start = 0
    for k, n_samples in pending:
        yield tuple(o[start:start + k] for o in outputs), n_samples
        start += k


def load_embedder(init: str | Path, *, device: str | torch.device = "cpu", pool: str = "mean",
                  kind: type[AudioEmbedder] = AudioEmbedder, **options) -> AudioEmbedder:
    """The :class:`AudioEmbedder` (or subclass ``kind``, given ``options``) of a pre-training
    run folder, checkpoint file or export folder, with the run's ``frames`` and audio statistics, on
    ``device`` (``"auto"``: CUDA when available). Only the encoder's weights are used."""
    path = checkpoint.resolve(init)
    ckpt = checkpoint.load(path)
    encoder = checkpoint.encoder_from_checkpoint(ckpt, path)
    embedder = kind(encoder, stats=checkpoint.audio_stats(ckpt, path), frames=encoder.cfg.frames, pool=pool,
                    source=str(path), **options)
    return embedder.to(resolve_device(device))


@dataclass
class EmbedResult:
    """What :func:`embed` returns: row ``i`` belongs to ``paths[i]``."""

    paths: list[str]
    clip: np.ndarray  # [n, D] float32
    tokens: list[np.ndarray]  # n arrays [T_i, D] float32
    timestamps_ms: list[np.ndarray]  # n arrays [T_i] float64, evenly spaced, continuing across windows
    pool: str = "mean"

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the ``.npz`` described in the module docstring (atomically). An existing file is
        refused unless ``overwrite``."""
        path = Path(path).expanduser()
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; choose another output file or allow overwriting (--overwrite)")
        n, dim = self.clip.shape
        lengths = np.array([len(t) for t in self.tokens], dtype=np.int64)
        longest = int(lengths.max()) if n else 0
        tokens = np.zeros((n, longest, dim), dtype=np.float32)
        stamps = np.full((n, longest), np.nan, dtype=np.float64)
        for i, (t, s) in enumerate(zip(self.tokens, self.timestamps_ms)):
            tokens[i, :len(t)] = t
            stamps[i, :len(s)] = s
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez(f, paths=np.array(self.paths, dtype=str), clip=self.clip.astype(np.float32), tokens=tokens,
                     lengths=lengths, timestamps_ms=stamps, pool=np.array(self.pool))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "EmbedResult":
        """Read a file written by :meth:`save` (no pickle)."""
        with np.load(Path(path).expanduser(), allow_pickle=False) as data:
            lengths = data["lengths"]
            return cls(paths=[str(p) for p in data["paths"]], clip=data["clip"],
                       tokens=[data["tokens"][i, :n] for i, n in enumerate(lengths)],
                       timestamps_ms=[data["timestamps_ms"][i, :n] for i, n in enumerate(lengths)],
                       pool=str(data["pool"]))


AudioInput = str | Path | torch.Tensor | np.ndarray


def audio_inputs(items: AudioInput | Sequence[AudioInput]) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    """``(name, load)`` per audio item: a folder gives each audio file below it (by suffix,
    :data:`~workbench.audio.clips.AUDIO_SUFFIXES`) named by its path relative to the folder; a file
    its path as given; a 1-D waveform (16 kHz mono, tensor or array) ``<wave i>``, and a 2-D one a
    waveform per row. Missing paths and empty folders are errors naming them; unreadable files
    raise :class:`~workbench.audio.frontend.AudioLoadError` (naming the file) when loaded."""
    if isinstance(items, (str, Path, torch.Tensor, np.ndarray)):
        items = [items]
    out: list[tuple[str, Callable[[], torch.Tensor]]] = []
    n_waves = 0
    for item in items:
        if isinstance(item, (torch.Tensor, np.ndarray)):
            wave = torch.as_tensor(np.asarray(item, dtype=np.float32) if isinstance(item, np.ndarray) else item)
            if wave.ndim not in (1, 2):
                raise ValueError(f"a waveform must be [samples] or [n, samples] (16 kHz mono), got shape "
                                 f"{tuple(wave.shape)}")
            for row in (wave if wave.ndim == 2 else wave[None]):
                out.append((f"<wave {n_waves}>", lambda row=row: row.float()))
                n_waves += 1
            continue
        if not isinstance(item, (str, Path)):
            raise TypeError(f"expected audio file or folder paths, or waveforms; got {type(item).__name__}")
        path = Path(item).expanduser()
        if path.is_dir():
            files = audio_files(path)
            if not files:
                raise AudioLoadError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under the folder {path}")
            out.extend((str(f.relative_to(path)), lambda f=f: load_audio(f)) for f in files)
        elif path.exists():
            out.append((str(item), lambda path=path: load_audio(path)))
        else:
            raise AudioLoadError(f"audio file not found: {path}")
    if not out:
        raise ValueError("nothing to embed: give audio files, folders or waveforms")
    return out


def embed(paths_or_waves: AudioInput | Sequence[AudioInput], *, init: str | Path, pool: str = "mean",
          device: str | torch.device = "cpu", batch_size: int = DEFAULT_BATCH, progress: bool = True) -> EmbedResult:
    """Clip and token embeddings of audio files, folders or 16 kHz waveforms (see the module
    docstring for windows, pooling, timestamps and names) from the encoder of ``init`` (a
    pre-training run folder, checkpoint file or export folder). ``batch_size`` windows go
    through the encoder at a time; ``progress`` shows a tqdm bar over the clips. An unreadable
    file raises :class:`~workbench.audio.frontend.AudioLoadError` naming it."""
    from tqdm.auto import tqdm

    embedder = load_embedder(init, device=device, pool=pool)
    inputs = audio_inputs(paths_or_waves)
    rows = embedder.embed_waves((load() for _, load in inputs), batch_size=batch_size)
    results = list(tqdm(rows, total=len(inputs), desc="embed", unit="clip", disable=not progress))
    return EmbedResult(paths=[name for name, _ in inputs],
                       clip=torch.stack([r.clip for r in results]).float().cpu().numpy(),
                       tokens=[r.tokens.float().cpu().numpy() for r in results],
                       timestamps_ms=[r.timestamps_ms.numpy() for r in results], pool=pool)


__all__ = ["AudioEmbedder", "DEFAULT_BATCH", "EmbedResult", "POOLS", "WaveEmbedding", "audio_inputs", "batched_windows",
           "embed", "load_embedder", "log_mel_windows"]
