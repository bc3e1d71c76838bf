"""Audio clips as a pre-training source (``--dataset audio:TASK``, ``audio:TASK:ROOT`` or
``audio:/folder``): the audio-MAE baseline that pattern pre-training is compared with."""

from __future__ import annotations

from typing import Sequence

import torch

from workbench.audio.clips import Clip, audio_files, clip_fbank, norm_stats
from workbench.audio.frontend import NormStats, crop_or_pad, normalize
from workbench.audio.tasks import load_task
from workbench.seeding import Stream, generator, stream_indices
from workbench.sources.spec import DatasetSpec


class AudioSource:
    """MAE pre-training batches from audio clips: ``batch(shard, B)`` is ``[B, 1, 128, frames]``,
    normalised with the clips' own statistics, a pure function of ``(seed, shard)``.

    Each epoch is a fresh seeded permutation of the clips (:data:`Stream.DATA`); each clip is
    cropped at a seeded random offset (:data:`Stream.CROPS`) when longer than ``frames`` and
    zero-padded when shorter. Pick ``frames`` near the clips' length (112 for 1 s clips): padding
    is wasted compute.
    """

    def __init__(self, name: str, clips: Sequence[Clip], *, frames: int, seed: int,
                 device: str | torch.device = "cpu", stats: NormStats | None = None) -> None:
        if not clips:
            raise ValueError(f"audio source {name!r} has no clips")
        self.name = name
        self.clips = list(clips)
        self.frames = frames
        self.seed = seed
        self.device = torch.device(device)
        self.stats = stats or norm_stats(self.clips, frames=frames,
                                         cache_key=("pretrain", name, frames, len(self.clips)))

    def indices(self, shard: int, batch_size: int) -> list[int]:
        return stream_indices(len(self.clips), self.seed, shard, batch_size)

    def batch(self, shard: int, batch_size: int) -> torch.Tensor:
        g = generator(self.seed, shard, Stream.CROPS)
        specs = [crop_or_pad(clip_fbank(self.clips[i]), self.frames, generator=g).T[None]
                 for i in self.indices(shard, batch_size)]
        return normalize(torch.stack(specs), self.stats).to(self.device)


def audio_source(spec: DatasetSpec, *, frames: int, seed: int, device: str | torch.device = "cpu") -> AudioSource:
    """The clips an ``audio:`` spec names.

    * a task (``audio:synth_sounds``, ``audio:esc50:/data/ESC-50``): its ``train`` split; for
      cross-validated tasks every fold (labels are never used, but the held-out fold's audio is
      then seen during pre-training; use a folder of the other folds to avoid that);
    * a folder (``audio:/path``): every audio file found recursively, any layout.
    """
    if spec.kind == "audio_task":
        data = load_task(spec.name, spec.root)
        clips = data.clips if data.folds is not None else [c for c in data.clips if c.group == "train"]
    elif spec.kind == "audio_folder":
        files = audio_files(spec.root)
        if not files:
            raise FileNotFoundError(f"{spec.text}: no audio files under {spec.root}")
        clips = [Clip(str(p.relative_to(spec.root)), -1, "train", path=p) for p in files]
    else:
        raise ValueError(f"{spec.text!r} is not an audio: source")
    return AudioSource(spec.canonical, clips, frames=frames, seed=seed, device=device)


__all__ = ["AudioSource", "audio_source"]
