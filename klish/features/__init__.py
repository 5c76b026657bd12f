"""Generator feature extraction and the feature store."""

from klish.features.extract import extract_features, generate_with_features, prepare_maps
from klish.features.hooks import FeatureRecorder, feature_shapes
from klish.features.selection import auto_layer_selection, resolve_layers
from klish.features.store import FeatureStore

__all__ = ["FeatureRecorder", "FeatureStore", "auto_layer_selection", "extract_features", "feature_shapes",
           "generate_with_features", "prepare_maps", "resolve_layers"]
