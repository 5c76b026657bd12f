"""Downstream tasks and their networks: segmentation (the pseudo ground-truth parser, UFS)."""
