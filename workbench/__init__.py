"""workbench: pre-train audio encoders on synthetic patterns with masked autoencoders.

Sub-packages: ``models`` (MAE-AST and the SSAST-style joint baseline), ``patterns`` (synthetic
pattern generators in spectrogram geometry), ``audio`` (log-mel front-end, audio datasets).
"""

from workbench import audio, models, patterns

__version__ = "0.1.0"
__all__ = ["audio", "models", "patterns", "__version__"]
