import numpy as np
import pytest
from sklearn.cluster import AgglomerativeClustering, KMeans, kmeans_plusplus
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from klish import LinearExtractor
from klish.cluster import AHCExtractor, KASPExtractor, KLiSH, KMeansExtractor
from klish.cluster.ahc import tree_cuts
from klish.extractor import load_extractors, save_extractors


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=300, centers=[[0, 0, 0], [8, 0, 0], [0, 8, 0], [0, 0, 8]], cluster_std=0.8,
                      random_state=0)
    return (X + 5).astype(np.float32), y  # away from the origin, so the arccos clusters are not trivial


def test_kmeans_extractor_is_nearest_centroid(blobs):
    X, y = blobs
    model = KMeansExtractor(n_clusters=4, k_values=[2, 6], random_state=0).fit(X)
    assert model.k_values_ == [2, 4, 6]
    centroids = model.centroids_[4]
    nearest = ((X[:, None, :] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)
    np.testing.assert_array_equal(model.labels_, nearest)
    # the same seed reproduces scikit-learn's KMeans started from single-trial k-means++ seeds
    rng = np.random.RandomState(0)
    seeds, _ = kmeans_plusplus(X, 4, random_state=rng, n_local_trials=1)
    reference = KMeans(4, init=seeds, n_init=1, max_iter=20, random_state=rng).fit(X)
    np.testing.assert_allclose(centroids, reference.cluster_centers_, rtol=1e-5)
    assert adjusted_rand_score(y, model.labels_) == pytest.approx(1.0)


def test_kmeans_arccos_extractor_ignores_feature_length(blobs):
    X, y = blobs
    model = KMeansExtractor(n_clusters=4, metric="arccos", random_state=0).fit(X)
    ext = model.extractor()
    np.testing.assert_array_equal(ext.predict(X), ext.predict(3.0 * X))
    np.testing.assert_allclose(np.linalg.norm(ext.coef, axis=1), 1.0, rtol=1e-5)
    assert not np.any(ext.intercept)


def test_tree_cuts_are_the_agglomerative_partitions(blobs):
    X, _ = blobs
    ahc = AgglomerativeClustering(n_clusters=2, linkage="ward", compute_full_tree=True).fit(X)
    cuts = tree_cuts(ahc.children_, [2, 3, 7])
    for j, k in enumerate([2, 3, 7]):
        direct = AgglomerativeClustering(n_clusters=k, linkage="ward").fit(X).labels_
        assert adjusted_rand_score(direct, cuts[:, j]) == 1.0
        assert np.bincount(cuts[:, j]).tolist() == sorted(np.bincount(direct).tolist(), reverse=True)
    # nested: each K=7 cluster lies inside one K=3 cluster
    assert all(len(np.unique(cuts[cuts[:, 2] == c, 1])) == 1 for c in range(7))


@pytest.mark.parametrize("linkage", ["ward", "average"])
def test_ahc_extends_subsample_clusters_to_all_pixels(blobs, linkage):
    X, y = blobs
    model = AHCExtractor(n_clusters=4, k_values=[2, 3], linkage=linkage, n_subsample=120, random_state=0).fit(X)
    assert len(model.subsample_) == 120
    for k in (2, 3, 4):
        ext = model.extractor(k)
        assert ext.n_clusters == k
        sub_pred = ext.predict(X[model.subsample_])
        assert adjusted_rand_score(model.subsample_labels_[k], sub_pred) > 0.95
    assert adjusted_rand_score(y, model.labels_) > 0.95


def test_kasp_groups_centroids(blobs):
    X, y = blobs
    model = KASPExtractor(n_clusters=4, k_values=[2, 20], n_centroids=20, random_state=0).fit(X)
    assert model.extractor(20).n_clusters == 20 and model.extractor(20).coef.shape == (20, 3)
    assert model.extractor(4).mapping.shape == (20,)
    assert adjusted_rand_score(y, model.labels_) > 0.9


def test_every_method_gives_extractors_that_round_trip(tmp_path, blobs):
    X, _ = blobs
    models = [KLiSH(n_clusters=3, n_init_clusters=6, random_state=0), KMeansExtractor(3, random_state=0),
              KASPExtractor(3, n_centroids=10, random_state=0), AHCExtractor(3, n_subsample=100, random_state=0)]
    for model in models:
        model.fit(X)
        extractors = {k: model.extractor(k) for k in model.k_values_ if k >= 2}
        save_extractors(tmp_path / "e.safetensors", extractors, {"method": type(model).__name__})
        loaded = load_extractors(tmp_path / "e.safetensors")
        assert sorted(loaded) == sorted(extractors)
        np.testing.assert_array_equal(loaded[3].predict(X), model.predict(X))


def test_load_extractors_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(Exception, match="bad.safetensors"):
        load_extractors(bad)
    with pytest.raises(Exception, match="not found"):
        load_extractors(tmp_path / "missing.safetensors")


def test_mapping_extractor():
    ext = LinearExtractor(np.eye(3, dtype=np.float32), np.zeros(3, np.float32), np.array([1, 0, 1]))
    assert ext.n_clusters == 2
    assert ext.predict(np.eye(3, dtype=np.float32)).tolist() == [1, 0, 1]
