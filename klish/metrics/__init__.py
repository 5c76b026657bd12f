"""Evaluation metrics, each module saying which reference protocol it matches."""

from klish.metrics.ari import adjusted_rand_from_contingency, agreement_scores, contingency
from klish.metrics.miou import greedy_mapping, mapped_iou, per_image_contingency

__all__ = ["adjusted_rand_from_contingency", "agreement_scores", "contingency", "greedy_mapping", "mapped_iou",
           "per_image_contingency"]
