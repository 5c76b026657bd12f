"""klish: extract semantic knowledge from GANs without labels (KLiSH and baselines), as a library.

The library knows nothing of DVC, MLflow or params.yaml: the `benchmark` package is the glue. The names below are
imported on first use (PEP 562), so `import klish.errors` does not pay for torch, scikit-learn and scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "KLiSH": "klish.cluster",
    "CheckpointError": "klish.errors", "ConfigError": "klish.errors", "FeatureStoreError": "klish.errors",
    "KlishError": "klish.errors",
    "LinearExtractor": "klish.extractor",
    "FeatureStore": "klish.features", "extract_features": "klish.features",
    "build_discriminator": "klish.generators", "build_generator": "klish.generators",
    "load_checkpoint": "klish.generators", "save_checkpoint": "klish.generators",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'klish' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
