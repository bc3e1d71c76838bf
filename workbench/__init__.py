"""workbench: pre-train audio encoders on synthetic patterns with masked autoencoders.

Where things live: ``models`` (MAE-AST, the SSAST-style joint baseline, the downstream
classifier), ``patterns`` (synthetic pattern generators in spectrogram geometry), ``audio``
(log-mel front-end, downstream tasks, procedural audio), ``sources`` (what ``--dataset`` names,
as pre-training batches), ``train`` (pre-training, fine-tuning and linear probing), ``viz``
(figures and the reconstruction explorer), ``study`` and ``sweep`` (the property study and the
runs behind it), ``cli`` (the command line). Small modules own one concept each: ``config``,
``registry``, ``seeding``, ``checkpoint``, ``results``, ``metrics``, ``distributed``,
``profiling``, ``files``.
"""

from workbench import audio, models, patterns
from workbench.embed import embed  # the function; its module stays importable as `from workbench.embed import ...`

__version__ = "0.1.0"
__all__ = ["audio", "embed", "models", "patterns", "__version__"]
