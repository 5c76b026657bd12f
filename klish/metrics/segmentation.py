"""Segmentation IoU against ground-truth class masks, defined once, one name per protocol (class 0 = background).

Names (with the caller's prefix, e.g. `miou_real` for real test images):

* `<prefix>`: **dataset-level** mIoU over all classes: one confusion matrix accumulated over every pixel of the split
  (torchmetrics `MulticlassJaccardIndex`, the "accumulate then divide" mIoU of mmseg and most segmentation papers);
  the mean over the classes present in truth or prediction.
* `<prefix>_fg`: **dataset-level foreground** mIoU in the paper's convention: pixels whose ground truth is background
  are ignored (they count for no class, so they are never false positives) and the background IoU is dropped.
* `<prefix>_fg_per_image`: the **paper's UFS protocol** (KLiSH `test_image_seg.py` / `lib/evaluate.py`, spec 4.3):
  per image, per-class IoU with the ground-truth background row of the confusion matrix zeroed; a class absent from
  both prediction and ground truth (after that) scores -1 and is skipped; then the per-class mean over the images,
  and the mean over the foreground classes that have any valid value.
* `<prefix>_pixel_acc`: the share of pixels whose predicted class is the true one.

Per-class values go to `<prefix>_iou` and `<prefix>_fg_iou` ({class: IoU or None where absent}).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from klish.metrics.miou import per_image_contingency

BACKGROUND = 0


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Dataset-level confusion matrix [n_classes, n_classes] (rows: truth, columns: prediction), int64."""
    metric = MulticlassConfusionMatrix(num_classes=n_classes)
    metric.update(torch.from_numpy(np.asarray(pred, np.int64)).reshape(-1),
                  torch.from_numpy(np.asarray(truth, np.int64)).reshape(-1))
    return metric.compute().numpy().astype(np.int64)


def iou_from_confusion(matrix: np.ndarray) -> np.ndarray:
    """Per-class IoU [..., C] of confusion matrices [..., C, C]; NaN for a class absent from truth and prediction."""
    matrix = np.asarray(matrix, dtype=np.float64)
    inter = np.diagonal(matrix, axis1=-2, axis2=-1)
    union = matrix.sum(-2) + matrix.sum(-1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


def dataset_iou(truth: np.ndarray, pred: np.ndarray, n_classes: int, ignore_background: bool = False) -> np.ndarray:
    """Dataset-level per-class IoU [n_classes]; with `ignore_background`, ground-truth background pixels are left out
    (the background entry is then NaN)."""
    matrix = confusion_matrix(truth, pred, n_classes)
    if ignore_background:
        matrix[BACKGROUND] = 0
    iou = iou_from_confusion(matrix)
    if ignore_background:
        iou[BACKGROUND] = np.nan
    return iou


def per_image_foreground_iou(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """The paper's per-image protocol: per-class IoU [n_classes - 1] of the foreground classes, the mean over the
    images where the class is present in truth or prediction (ground-truth background pixels ignored); NaN for a
    class absent from every image."""
    table = per_image_contingency(truth, pred, n_classes, n_classes)  # [N, C, C]
    table[:, BACKGROUND] = 0  # ground-truth background pixels count for no class
    iou = iou_from_confusion(table)[:, 1:]  # [N, C - 1]: NaN where absent (the reference's -1)
    valid = ~np.isnan(iou)
    n_valid = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_valid > 0, np.where(valid, iou, 0.0).sum(axis=0) / n_valid, np.nan)


def segmentation_scores(truth: np.ndarray, pred: np.ndarray, class_names: list[str], prefix: str) -> dict[str, Any]:
    """Every protocol of the module docstring for class masks `truth` and `pred` [N, H, W] of `class_names`."""
    n = len(class_names)
    every = dataset_iou(truth, pred, n)
    fg = dataset_iou(truth, pred, n, ignore_background=True)[1:]
    per_image = per_image_foreground_iou(truth, pred, n)
    correct = np.count_nonzero(np.asarray(truth) == np.asarray(pred))

    def named(values: np.ndarray, names: list[str]) -> dict[str, float | None]:
        return {name: (None if np.isnan(v) else round(float(v), 6)) for name, v in zip(names, values)}

    def mean(values: np.ndarray) -> float:
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

    return {prefix: mean(every), f"{prefix}_fg": mean(fg), f"{prefix}_fg_per_image": mean(per_image),
            f"{prefix}_pixel_acc": float(correct / max(np.asarray(truth).size, 1)),
            f"{prefix}_iou": named(every, class_names), f"{prefix}_fg_iou": named(fg, class_names[1:])}
