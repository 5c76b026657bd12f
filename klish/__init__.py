"""klish: extract semantic knowledge from GANs without labels (KLiSH and baselines), as a library.

The library knows nothing of DVC, MLflow or params.yaml: the `benchmark` package is the glue.
"""

from klish.cluster import KLiSH
from klish.errors import CheckpointError, ConfigError, FeatureStoreError, KlishError
from klish.extractor import LinearExtractor
from klish.features import FeatureStore, extract_features
from klish.generators import build_discriminator, build_generator, load_checkpoint, save_checkpoint

__version__ = "0.1.0"

__all__ = ["CheckpointError", "ConfigError", "FeatureStore", "FeatureStoreError", "KLiSH", "KlishError",
           "LinearExtractor", "build_discriminator", "build_generator", "extract_features", "load_checkpoint",
           "save_checkpoint"]
