"""Synthetic pattern sources rendered in spectrogram geometry.

>>> import workbench
>>> x = workbench.patterns.generate("fractaldb", 4, seed=0, frames=256)
>>> x.shape
torch.Size([4, 1, 128, 256])

Each family lives in its own module and registers itself on import (see ``registry.py``);
``render.py`` turns a registered name into images or model inputs.
"""

from __future__ import annotations

from workbench.patterns.registry import PatternBatch, PatternSpec, get, is_registered, names, register_pattern
from workbench.patterns.render import generate, generate_with_labels, render

# Families register on import; keep this list in the paper's order (a-q), then our additions.
from workbench.patterns import dead_leaves  # noqa: F401  (a-d)
from workbench.patterns import statistical  # noqa: F401  (e-h)
from workbench.patterns import stylegan  # noqa: F401  (i-l)
from workbench.patterns import feature_vis  # noqa: F401  (m-n)
from workbench.patterns import shaders  # noqa: F401  (o)
from workbench.patterns import fractaldb  # noqa: F401  (p)
from workbench.patterns import visual_atom  # noqa: F401  (q)
from workbench.patterns import procedural_audio  # noqa: F401  (ours: AudioPG-style sounds)

__all__ = [
    "PatternBatch", "PatternSpec", "generate", "generate_with_labels", "get", "is_registered",
    "names", "register_pattern", "render",
]
