"""Segmentation IoU, every protocol against a direct computation: scikit-learn's confusion matrix for the dataset-level
numbers, and for the paper's per-image protocol a hand-made example worked out in the comments."""

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion

from klish.metrics.segmentation import dataset_iou, iou_from_confusion, per_image_foreground_iou, segmentation_scores


def _iou_by_hand(truth, pred, n, ignore_background=False):
    keep = truth != 0 if ignore_background else np.ones_like(truth, bool)
    t, p = truth[keep], pred[keep]
    out = []
    for c in range(n):
        union = np.sum((t == c) | (p == c))
        out.append(np.sum((t == c) & (p == c)) / union if union else np.nan)
    return np.array(out)


def test_dataset_level_scores_match_sklearn_and_a_direct_computation():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, size=(5, 8, 8))
    pred = np.where(rng.random((5, 8, 8)) < 0.6, truth, rng.integers(0, 4, size=(5, 8, 8)))
    names = ["background", "a", "b", "c"]
    scores = segmentation_scores(truth, pred, names, "m")
    cm = sk_confusion(truth.ravel(), pred.ravel(), labels=range(4))
    every = np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))
    fg = _iou_by_hand(truth, pred, 4, ignore_background=True)[1:]
    assert scores["m"] == pytest.approx(every.mean())
    assert scores["m_fg"] == pytest.approx(np.nanmean(fg))
    assert scores["m_fg_iou"]["a"] == pytest.approx(fg[0], abs=1e-6) and scores["m_iou"]["c"] == pytest.approx(every[3])
    assert scores["m_pixel_acc"] == pytest.approx(np.trace(cm) / cm.sum())
    # predicting anything on background pixels is neither rewarded nor punished in the paper's convention
    flipped = pred.copy()
    flipped[truth == 0] = 3
    for key in ("m_fg", "m_fg_per_image"):
        assert segmentation_scores(truth, flipped, names, "m")[key] == pytest.approx(scores[key])
    assert np.isnan(iou_from_confusion(np.zeros((2, 2)))).all()  # absent classes are NaN, not 0


def test_paper_per_image_protocol_on_a_hand_made_example():
    # Two 1x4 images, classes 0 (background), 1, 2, 3.
    truth = np.array([[[0, 1, 1, 2]], [[0, 0, 1, 1]]])
    pred = np.array([[[1, 1, 2, 2]], [[2, 2, 1, 0]]])
    # Image 0 (ground-truth background pixel 0 ignored): class 1: truth {1,2}, pred {1} -> 1/2;
    #   class 2: truth {3}, pred {2,3} -> 1/2; class 3: absent -> skipped.
    # Image 1 (pixels 0, 1 ignored): class 1: truth {2,3}, pred {2} -> 1/2; class 2: absent after ignoring -> skipped;
    #   class 3 absent.
    # Per-class means over images: class 1: (1/2 + 1/2) / 2 = 1/2; class 2: 1/2 (one image); class 3: none.
    per_class = per_image_foreground_iou(truth, pred, 4)
    np.testing.assert_allclose(per_class[:2], [0.5, 0.5])
    assert np.isnan(per_class[2])
    scores = segmentation_scores(truth, pred, ["bg", "a", "b", "c"], "m")
    assert scores["m_fg_per_image"] == pytest.approx(0.5)
    # Dataset level (the same pixels ignored, one matrix): class 1: truth 4 pixels, pred 2 of them, nothing else
    #   -> 2/4; class 2: truth 1 pixel, pred it and one class-1 pixel -> 1/2. Equal here; the next test parts them.
    assert scores["m_fg"] == pytest.approx(0.5)


def test_per_image_and_dataset_level_differ_when_images_differ_in_size_of_parts():
    # One image with a large, well-segmented part; one with a small, missed part: per image weights them equally.
    truth = np.array([[[1] * 8], [[0] * 7 + [1]]])
    pred = np.array([[[1] * 8], [[0] * 8]])
    scores = segmentation_scores(truth, pred, ["bg", "part"], "m")
    assert scores["m_fg"] == pytest.approx(8 / 9)  # one confusion matrix: 8 of 9 part pixels found
    assert scores["m_fg_per_image"] == pytest.approx(0.5)  # image 0: 1, image 1: 0


def test_per_image_matches_a_loop_over_images():
    rng = np.random.default_rng(3)
    truth, pred = rng.integers(0, 5, size=(6, 6, 6)), rng.integers(0, 5, size=(6, 6, 6))
    rows = np.array([_iou_by_hand(t, p, 5, ignore_background=True)[1:] for t, p in zip(truth, pred)])
    np.testing.assert_allclose(per_image_foreground_iou(truth, pred, 5), np.nanmean(rows, axis=0))
    np.testing.assert_allclose(dataset_iou(truth, pred, 5, ignore_background=True)[1:],
                               _iou_by_hand(truth, pred, 5, ignore_background=True)[1:])
