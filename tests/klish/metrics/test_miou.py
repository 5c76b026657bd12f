import itertools

import numpy as np
import pytest

from klish.metrics import greedy_mapping, mapped_iou, per_image_contingency


def _naive_iou(truth, pred, mapping, n_classes):
    """Per-image IoU straight from the masks, averaged per class over images with a non-empty union."""
    mapped = np.asarray(mapping)[pred]
    out = []
    for c in range(n_classes):
        values = []
        for t, p in zip(truth, mapped):
            union = np.logical_or(t == c, p == c).sum()
            if union:
                values.append(np.logical_and(t == c, p == c).sum() / union)
        out.append(np.mean(values) if values else 0.0)
    return np.array(out)


def _naive_greedy(truth, pred, n_classes, n_clusters):
    mapping = {}
    while len(mapping) < n_clusters:
        best = None
        for i, j in itertools.product(range(n_classes), range(n_clusters)):
            if j in mapping:
                continue
            trial = {**mapping, j: i}
            full = np.array([trial.get(c, n_classes) for c in range(n_clusters)])  # unassigned -> no class
            score = _naive_iou(truth, pred, full, n_classes).mean()
            if best is None or score > best[0] + 1e-12:
                best = (score, i, j)
        mapping[best[2]] = best[1]
    return np.array([mapping[c] for c in range(n_clusters)])


@pytest.fixture
def masks():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=(5, 6, 6))
    noise = rng.integers(0, 5, size=truth.shape)
    pred = np.where(rng.random(truth.shape) < 0.7, (truth * 2 + rng.integers(0, 2, truth.shape)) % 5, noise)
    return truth, pred


def test_per_image_contingency_counts(masks):
    truth, pred = masks
    table = per_image_contingency(truth, pred, 3, 5)
    assert table.shape == (5, 3, 5)
    assert table[2, 1, 4] == np.sum((truth[2] == 1) & (pred[2] == 4))
    assert table.sum() == truth.size


def test_mapped_iou_matches_mask_computation(masks):
    truth, pred = masks
    mapping = np.array([0, 0, 1, 1, 2])
    table = per_image_contingency(truth, pred, 3, 5)
    np.testing.assert_allclose(mapped_iou(table, mapping), _naive_iou(truth, pred, mapping, 3))


def test_greedy_mapping_matches_naive_search(masks):
    truth, pred = masks
    table = per_image_contingency(truth, pred, 3, 5)
    mapping = greedy_mapping(table)
    np.testing.assert_array_equal(mapping, _naive_greedy(truth, pred, 3, 5))
    assert set(mapping.tolist()) <= {0, 1, 2}


def test_greedy_mapping_recovers_a_refinement():
    # every cluster lies inside one class: the mapping sends each to its class and mIoU is 1
    truth = np.repeat(np.arange(3), 12).reshape(1, 6, 6)
    pred = np.arange(36).reshape(1, 6, 6) // 6  # 6 clusters, two per class
    table = per_image_contingency(truth, pred, 3, 6)
    mapping = greedy_mapping(table)
    np.testing.assert_array_equal(mapping, [0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(mapped_iou(table, mapping), 1.0)
