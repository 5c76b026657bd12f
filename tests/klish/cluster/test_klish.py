import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from klish import KLiSH
from klish.cluster.svm import fit_binary_svm


@parametrize_with_checks([KLiSH(n_clusters=3, n_init_clusters=10, random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=400, centers=4, n_features=4, cluster_std=1.2, random_state=3)
    return X.astype(np.float32), y


def _is_tie(record, eps=1e-3):
    """A step whose choice is not determined: two clusters equally separable, or p's cosines all zero."""
    iou = np.sort(record["iou"])
    return iou[1] - iou[0] < eps or record["merge_metric"] < eps


def test_fast_and_reference_solvers_merge_identically():
    X, _ = make_blobs(n_samples=400, centers=4, n_features=4, cluster_std=2.0, random_state=1)
    X = X.astype(np.float32)
    # random_state 3: an initialisation with no tie before K = 2 (other seeds agree too, up to a tie at K = 4)
    fast = KLiSH(n_clusters=4, n_init_clusters=8, random_state=3, solver="fast").fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference's L-BFGS schedule often stops at max_iter
        ref = KLiSH(n_clusters=4, n_init_clusters=8, random_state=3, solver="reference").fit(X)
    compared = 0
    for a, b in zip(fast.merge_history_[:-1], ref.merge_history_[:-1]):
        if _is_tie(a):  # after a tie the two runs may legitimately part ways
            break
        assert a["merged"] == b["merged"] and a["nodes"] == b["nodes"], a["n_clusters"]
        compared += 1
    assert compared >= 6  # every step down to K = 2 on this fixture
    np.testing.assert_array_equal(fast.labels_, ref.labels_)
    assert adjusted_rand_score(fast.predict(X), ref.predict(X)) > 0.95


def test_fast_solver_is_exact_at_every_k(blobs):
    # The records of the fast solver were trained long before they were read; each must still be the exact
    # one-vs-rest solution for the partition at its K.
    X, _ = blobs
    model = KLiSH(n_clusters=4, n_init_clusters=8, random_state=0).fit(X)
    labels = _partitions(model)
    np.testing.assert_array_equal(labels[4], model.labels_)
    for record in model.merge_history_[:-1]:
        k = record["n_clusters"]
        for j in range(k):
            positive = labels[k] == j
            exact = fit_binary_svm(X - X.mean(0), positive, np.zeros(X.shape[1]), 0.0, C=model.C, max_iter=200,
                                   tol=1e-9)
            optimum = _svm_objective(X - X.mean(0), positive, exact.coef, exact.intercept, model.C)
            shift = float(record["coef"][j] @ X.mean(0))  # the record's intercept is for uncentred features
            value = _svm_objective(X - X.mean(0), positive, record["coef"][j], record["intercept"][j] + shift, model.C)
            assert value <= optimum * (1 + 1e-5) + 1e-6, (k, j, value, optimum)


def _svm_objective(X, positive, w, b, C):
    t = np.where(positive, 1.0, -1.0)
    xi = np.maximum(0.0, 1.0 - t * (X.astype(np.float64) @ w + b))
    return 0.5 * float(w @ w) + C / len(X) * float(xi @ xi)


def _partitions(model):
    """Replay the merge history from the initial K0 partition: the pseudo-labels at every K."""
    labels = {}
    current = model.init_labels_.copy()
    for record in model.merge_history_[:-1]:
        labels[record["n_clusters"]] = current.copy()
        q, p = record["merged"]
        current[current == p] = q
        current[current > p] -= 1
    return labels


def test_history_structure(blobs):
    X, y = blobs
    model = KLiSH(n_clusters=4, n_init_clusters=8, random_state=0).fit(X)
    ks = [r["n_clusters"] for r in model.merge_history_]
    assert ks == list(range(8, 0, -1))
    for r in model.merge_history_[:-1]:
        k = r["n_clusters"]
        assert r["coef"].shape == (k, 4) and r["intercept"].shape == (k,)
        assert r["sizes"].sum() == len(X)  # every pixel belongs to exactly one cluster at every K
        if k == 8:  # the initial clusters are numbered by descending size
            assert list(r["sizes"]) == sorted(r["sizes"], reverse=True)
        q, p = r["merged"]
        assert q != p and 0 <= min(q, p) and max(q, p) < k
        assert 0.0 <= r["delete_metric"] <= 1.0 and r["delete_metric"] == pytest.approx(r["iou"].min())
    nodes = [r["nodes"] for r in model.merge_history_[:-1]]
    assert [n[2] for n in nodes] == list(range(8, 15))  # scipy-linkage ids of the new nodes
    assert len(np.unique(model.labels_)) == 4 and adjusted_rand_score(y, model.labels_) > 0.95
    ext = model.extractor(6)
    assert ext.n_clusters == 6 and ext.predict(X.reshape(20, 20, 4)).shape == (20, 20)
    np.testing.assert_array_equal(model.extractor().predict(X), model.predict(X))
    with pytest.raises(ValueError, match="no classifier for k=9"):
        model.extractor(9)


def test_init_centroids_with_an_empty_cluster_merge_it_first(blobs):
    X, _ = blobs
    centroids = KMeans(n_clusters=5, n_init=1, random_state=0).fit(X).cluster_centers_
    far = np.full((1, 4), 1e3, dtype=np.float32)  # a centroid nothing is nearest to
    model = KLiSH(n_clusters=4, init=np.vstack([centroids, far]), random_state=0).fit(X)
    first = model.merge_history_[0]
    assert first["sizes"][-1] == 0 and first["merged"][1] == 5 and first["delete_metric"] == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_anisotropic_toy_case_klish_recovers_what_kmeans_splits(seed):
    """Spec section 7's point: an elongated cluster (a long thin bar) beside two compact blobs. K-means at K = 3
    cuts the bar and lumps the blobs; the three groups are linearly separable, and KLiSH recovers them."""
    rng = np.random.default_rng(seed)
    bar = np.stack([rng.uniform(-15, 15, 1200), rng.uniform(-0.5, 0.5, 1200)], 1)
    blobs = [rng.normal(centre, 0.6, (200, 2)) for centre in ([-10, 8], [10, 8])]
    X = np.concatenate([bar, *blobs]).astype(np.float32)
    y = np.repeat([0, 1, 2], [1200, 200, 200])
    kmeans_ari = adjusted_rand_score(y, KMeans(n_clusters=3, n_init=10, random_state=0).fit_predict(X))
    model = KLiSH(n_clusters=3, n_init_clusters=10, C=100.0, random_state=0).fit(X)
    assert kmeans_ari < 0.2
    assert adjusted_rand_score(y, model.labels_) > 0.99
    assert adjusted_rand_score(y, model.predict(X)) > 0.99  # the linear extractor labels it the same way


def test_feature_variance_scaling_makes_C_unit_free(blobs):
    X, _ = blobs
    X = X - X.mean(axis=0)  # centred: scaling then changes only the units, not the K-means geometry
    fits = [KLiSH(n_clusters=3, n_init_clusters=12, C=50.0, C_scaling="feature_variance", random_state=0).fit(X * a)
            for a in (1.0, 10.0)]
    variance = float(((X.astype(np.float64) - X.mean(axis=0)) ** 2).sum(axis=1).mean())
    assert fits[0].C_effective_ == pytest.approx(50.0 / variance, rel=1e-5)
    assert fits[1].C_effective_ == pytest.approx(fits[0].C_effective_ / 100, rel=1e-5)
    # the same merges and the same clusters in any units; without the scaling, units change the problem
    assert [r["merged"] for r in fits[0].merge_history_] == [r["merged"] for r in fits[1].merge_history_]
    assert (fits[0].labels_ == fits[1].labels_).all()
    for a, b in zip(fits[0].merge_history_[:-1], fits[1].merge_history_[:-1]):
        np.testing.assert_allclose(a["iou"], b["iou"], atol=1e-3)
    raw = KLiSH(n_clusters=3, n_init_clusters=12, C=50.0, random_state=0).fit(X * 10.0)
    assert raw.C_effective_ == 50.0
