"""The HEAR 2021 common API over a workbench encoder, for the HEAR evaluation kit (``heareval``).

>>> from workbench import hear
>>> model = hear.load_model("exports/fdb")            # run folder, checkpoint file or export folder
>>> audio = torch.rand(2, 32000) * 2 - 1              # [n_sounds, n_samples], 16 kHz, model.device
>>> hear.get_scene_embeddings(audio, model).shape     # [2, model.scene_embedding_size]
>>> emb, ts = hear.get_timestamp_embeddings(audio, model)  # [2, T, D], [2, T] in ms

The model is an :class:`~workbench.embed.AudioEmbedder` (a ``torch.nn.Module``) with the API's
attributes ``sample_rate`` (16000), ``scene_embedding_size`` and ``timestamp_embedding_size``
(both the encoder width ``enc_dim``). The numbers are :mod:`workbench.embed`'s: each sound is cut
into windows of the run's ``frames``; a scene embedding is the clip embedding (mean over windows
of the pooled encoder output), the timestamp embeddings are the token columns, timestamped at the
centre of their time span (evenly spaced, ``10 x token width`` ms apart: 160 ms for 16x16
patches, 20 ms for 2-frame tokens), up to the end of the sound. Every sound is embedded on its
own, so a batch gives what its sounds give one by one. No gradient is computed.
"""

from __future__ import annotations

import torch

from workbench.audio.frontend import SAMPLE_RATE
from workbench.embed import DEFAULT_BATCH, AudioEmbedder, WaveEmbedding, load_embedder


class HearModel(AudioEmbedder):
    """An :class:`AudioEmbedder` with the attributes the HEAR API reads."""

    sample_rate: int = SAMPLE_RATE

    def __init__(self, *args, batch_size: int = DEFAULT_BATCH, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scene_embedding_size = self.embedding_size
        self.timestamp_embedding_size = self.embedding_size
        self.batch_size = batch_size


def load_model(model_file_path: str = "", *, device: str | torch.device = "cpu", pool: str = "mean",
               batch_size: int = DEFAULT_BATCH) -> HearModel:
    """The HEAR model of a pre-training run folder, checkpoint file or export folder, on
    ``device``. ``pool``: ``"mean"`` (default) or ``"cls"`` for the scene embeddings;
    ``batch_size``: windows per encoder call."""
    if not model_file_path:
        raise ValueError("workbench.hear has no built-in weights: pass a pre-training run folder, checkpoint file or "
                         "export folder as model_file_path (heareval: --model PATH)")
    return load_embedder(model_file_path, device=device, pool=pool, kind=HearModel, batch_size=batch_size)


def _embed(audio: torch.Tensor, model: HearModel) -> list[WaveEmbedding]:
    if not isinstance(model, HearModel):
        raise TypeError(f"model must come from workbench.hear.load_model, got {type(model).__name__}")
    if not isinstance(audio, torch.Tensor) or audio.ndim != 2:
        shape = tuple(audio.shape) if isinstance(audio, torch.Tensor) else type(audio).__name__
        raise ValueError(f"audio must be a tensor [n_sounds, n_samples] of 16 kHz mono sounds, got {shape}")
    if audio.shape[0] == 0 or audio.shape[1] == 0:
        raise ValueError(f"audio holds no sound (shape {tuple(audio.shape)})")
    audio = audio.to(model.device, torch.float32)
    with torch.no_grad():
        return list(model.embed_waves(audio.unbind(0), batch_size=model.batch_size))


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """One float32 embedding per sound: ``audio [n_sounds, n_samples]`` -> ``[n_sounds, scene_embedding_size]``
    on the model's device."""
    return torch.stack([e.clip for e in _embed(audio, model)]).float()


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings at evenly spaced times: ``audio [n_sounds, n_samples]`` ->
    ``(embeddings [n_sounds, n_timestamps, timestamp_embedding_size] float32,
    timestamps [n_sounds, n_timestamps] float64 ms)``, on the model's device. Sounds of one batch
    have one length, hence the same timestamps (float64: no rounding drift over hours of audio)."""
    embedded = _embed(audio, model)
    embeddings = torch.stack([e.tokens for e in embedded]).float()
    timestamps = torch.stack([e.timestamps_ms for e in embedded]).to(model.device)
    return embeddings, timestamps


__all__ = ["HearModel", "get_scene_embeddings", "get_timestamp_embeddings", "load_model"]
