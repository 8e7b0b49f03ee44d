"""idtheory: the intrinsic dimension of language-model fine-tuning.

Fastfood subspace training (DID / SAID) for Hugging Face models, d90 measurement, and
compression-based generalization bounds. See README.md for a tour.

Heavy modules (torch, transformers) are imported lazily: ``import idtheory`` is cheap and
``idtheory.bounds`` never imports torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
