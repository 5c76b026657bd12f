"""mIoU of a clustering against ground-truth classes under the greedy many-to-one cluster -> class mapping of the
reference (spec section 4.2: `script/eval_cluster.py`, `find_label_permutation`).

IoU is per image: for class i, the pixels of the clusters mapped to i against the pixels of class i; a class's IoU
is the mean over the images where that union is non-empty (0 if there is none), and mIoU the mean over all
classes, background included. The greedy mapping starts with no cluster assigned and, while any is left, makes the
single (class, cluster) assignment that gives the highest mIoU. Every cluster is mapped; a class may get none.
"""

from __future__ import annotations

import numpy as np


def per_image_contingency(truth: np.ndarray, pred: np.ndarray, n_true: int, n_pred: int) -> np.ndarray:
    """Counts [N, n_true, n_pred] (int64) of class i / cluster j pixels per image, for masks [N, H, W]."""
    truth = np.asarray(truth, dtype=np.int64).reshape(len(truth), -1)
    pred = np.asarray(pred, dtype=np.int64).reshape(len(pred), -1)
    if truth.shape != pred.shape:
        raise ValueError(f"truth and pred masks differ in shape: {truth.shape} vs {pred.shape}")
    n = truth.shape[0]
    flat = (np.arange(n)[:, None] * n_true + truth) * n_pred + pred
    return np.bincount(flat.ravel(), minlength=n * n_true * n_pred).reshape(n, n_true, n_pred)


def _class_iou(isct: np.ndarray, pred_size: np.ndarray, truth_size: np.ndarray) -> np.ndarray:
    """Per-class IoU averaged over images with a non-empty union; arrays [N, G, ...] -> [G, ...]."""
    union = truth_size + pred_size - isct
    valid = union > 0
    iou = np.where(valid, isct / np.where(valid, union, 1), 0.0).sum(axis=0)
    n_valid = valid.sum(axis=0)
    return np.where(n_valid > 0, iou / np.maximum(n_valid, 1), 0.0)


def mapped_iou(table: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Per-class IoU [G] of per-image contingencies `table` [N, G, K] when cluster j is called class mapping[j]."""
    table = np.asarray(table, dtype=np.float64)
    n, g, k = table.shape
    onehot = np.zeros((k, g))
    onehot[np.arange(k), np.asarray(mapping)] = 1.0
    isct = np.einsum("nik,ki->ni", table, onehot)
    pred_size = table.sum(axis=1) @ onehot  # [N, G]
    return _class_iou(isct, pred_size, table.sum(axis=2))


def greedy_mapping(table: np.ndarray) -> np.ndarray:
    """The reference's greedy many-to-one mapping [K] (cluster -> class) from per-image contingencies [N, G, K]."""
    table = np.asarray(table, dtype=np.float64)
    n, g, k = table.shape
    truth_size = table.sum(axis=2)  # [N, G]
    cluster_size = table.sum(axis=1)  # [N, K]
    isct = np.zeros((n, g))
    pred_size = np.zeros((n, g))
    current = _class_iou(isct, pred_size, truth_size)  # [G]
    mapping = np.full(k, -1, dtype=np.int64)
    left = np.arange(k)
    while left.size:
        cand_isct = isct[:, :, None] + table[:, :, left]  # [N, G, |left|]
        cand_pred = pred_size[:, :, None] + cluster_size[:, None, left]
        gain = _class_iou(cand_isct, cand_pred, truth_size[:, :, None]) - current[:, None]  # [G, |left|]
        i, jj = np.unravel_index(int(np.argmax(gain)), gain.shape)
        j = int(left[jj])
        mapping[j] = i
        isct[:, i] += table[:, i, j]
        pred_size[:, i] += cluster_size[:, j]
        current = _class_iou(isct, pred_size, truth_size)
        left = np.delete(left, jj)
    return mapping
