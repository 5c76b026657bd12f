"""Clustering of generator features: KLiSH and its baselines, each giving a linear semantic extractor per K."""

from klish.cluster.ahc import AHCExtractor
from klish.cluster.kasp import KASPExtractor
from klish.cluster.klish import KLiSH
from klish.cluster.kmeans import KMeansExtractor

__all__ = ["AHCExtractor", "KASPExtractor", "KLiSH", "KMeansExtractor"]
