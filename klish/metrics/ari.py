"""Agreement of a clustering with ground-truth classes from the pooled contingency table (spec section 4.2:
`script/eval_cluster.py`): the adjusted Rand index (Hubert and Arabie), adjusted and normalised mutual information
(scikit-learn, arithmetic normalisation).

Pair counts reach ~7e18 on the reference's 2.6e9 pixels, near the int64 limit, so the ARI is computed with Python
integers (exact at any size). AMI's expected mutual information is computed by scikit-learn from label arrays; above
`max_pixels` the table is scaled down first (floor(count / f)), as the reference does with f = 1000.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score, mutual_info_score


def contingency(truth: np.ndarray, pred: np.ndarray, n_true: int, n_pred: int) -> np.ndarray:
    """Counts [n_true, n_pred] (int64) of pixels with class i and cluster j; labels of any shape, same shape."""
    truth = np.asarray(truth, dtype=np.int64).ravel()
    pred = np.asarray(pred, dtype=np.int64).ravel()
    if truth.shape != pred.shape:
        raise ValueError(f"truth and pred differ in size: {truth.size} vs {pred.size}")
    return np.bincount(truth * n_pred + pred, minlength=n_true * n_pred).reshape(n_true, n_pred)


def _pairs(counts: np.ndarray) -> int:
    return sum(int(c) * (int(c) - 1) // 2 for c in np.asarray(counts).ravel() if c > 1)


def adjusted_rand_from_contingency(table: np.ndarray) -> float:
    """ARI of the clustering summarised by `table` [classes, clusters], exact for any pixel count."""
    table = np.asarray(table, dtype=np.int64)
    n = int(table.sum())
    index = _pairs(table)
    rows, cols = _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    total = n * (n - 1) // 2
    if total == 0:
        return 1.0
    expected = Fraction(rows * cols, total)
    maximum = Fraction(rows + cols, 2)
    if maximum == expected:  # both partitions trivial: scikit-learn's convention
        return 1.0
    return float((index - expected) / (maximum - expected))


def _labels_from_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.indices(table.shape)
    counts = table.ravel()
    return np.repeat(rows.ravel(), counts), np.repeat(cols.ravel(), counts)


def agreement_scores(table: np.ndarray, max_pixels: int = 20_000_000) -> dict[str, float]:
    """{"ari", "ami", "nmi"} of the clustering summarised by `table` [classes, clusters]."""
    table = np.asarray(table, dtype=np.int64)
    scaled = table
    if table.sum() > max_pixels:  # the reference's floor(contingency / f) for a tractable expected MI
        scaled = table // int(np.ceil(table.sum() / max_pixels))
    truth, pred = _labels_from_table(scaled)
    return {"ari": adjusted_rand_from_contingency(table),
            "ami": float(adjusted_mutual_info_score(truth, pred)),
            "nmi": normalized_mutual_info_from_contingency(table)}


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info_from_contingency(table: np.ndarray) -> float:
    """scikit-learn's NMI (arithmetic normalisation) straight from the table: no label arrays to rebuild."""
    table = np.asarray(table, dtype=np.int64)
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    n_rows, n_cols = int((rows > 0).sum()), int((cols > 0).sum())
    if n_rows == n_cols == 1 or n_rows == n_cols == 0:  # scikit-learn's convention for trivial partitions
        return 1.0
    mi = float(mutual_info_score(None, None, contingency=table))
    if mi == 0:
        return 0.0
    return mi / ((_entropy(rows) + _entropy(cols)) / 2)
