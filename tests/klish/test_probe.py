import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from klish.probe import fit_linear_probe


def _blobs(rng, n_per=60, d=6, classes=(0, 1, 3)):
    centres = rng.normal(0, 4, size=(len(classes), d)) + 50  # far from the origin, unequal scales per channel
    X = np.concatenate([c + rng.normal(0, 1, size=(n_per, d)) for c in centres]) * rng.uniform(0.1, 10, size=d)
    y = np.repeat(classes, n_per)
    return X.astype(np.float32), y


def test_probe_equals_scikit_learns_pipeline_on_raw_features():
    rng = np.random.default_rng(0)
    X, y = _blobs(rng)
    probe, n_iter = fit_linear_probe(X, y, n_classes=4, C=0.5, max_iter=500)
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=500)).fit(X, y)
    # the folded map on raw features gives the pipeline's logits (absent class 2: never predicted)
    logits = probe.decision_function(X)
    expected = reference.decision_function(X)
    np.testing.assert_allclose(logits[:, [0, 1, 3]], expected, rtol=1e-3, atol=1e-3)
    assert (probe.predict(X) == reference.predict(X)).all() and n_iter > 0
    assert (logits[:, 2] < logits[:, [0, 1, 3]].min(axis=1)).all()
    assert probe.n_clusters == 4


def test_probe_two_classes_and_one_class():
    rng = np.random.default_rng(1)
    X, y = _blobs(rng, classes=(1, 2))
    probe, _ = fit_linear_probe(X, y, n_classes=3)
    reference = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    assert (probe.predict(X) == reference.predict(X)).all()
    single, n_iter = fit_linear_probe(X, np.full(len(X), 2), n_classes=3)
    assert (single.predict(X) == 2).all() and n_iter == 0


def test_probe_rejects_bad_labels():
    X = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        fit_linear_probe(X, np.array([0, 1, 3, 0]), n_classes=3)
    with pytest.raises(ValueError, match="one label per row"):
        fit_linear_probe(X, np.array([0, 1]), n_classes=3)
