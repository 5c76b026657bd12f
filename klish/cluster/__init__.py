"""Clustering of generator features: KLiSH and its solvers."""

from klish.cluster.klish import KLiSH

__all__ = ["KLiSH"]
