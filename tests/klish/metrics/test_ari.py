import numpy as np
import pytest
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score

from klish.metrics import adjusted_rand_from_contingency, agreement_scores, contingency


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_scikit_learn_on_labels(seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 5, size=3000)
    pred = np.where(rng.random(3000) < 0.6, truth * 2 % 7, rng.integers(0, 7, size=3000))
    table = contingency(truth, pred, 5, 7)
    assert table.sum() == 3000 and table[truth[0], pred[0]] >= 1
    scores = agreement_scores(table)
    assert scores["ari"] == pytest.approx(adjusted_rand_score(truth, pred), abs=1e-12)
    assert scores["ami"] == pytest.approx(adjusted_mutual_info_score(truth, pred), abs=1e-9)
    assert scores["nmi"] == pytest.approx(normalized_mutual_info_score(truth, pred), abs=1e-9)


@pytest.mark.parametrize("truth, pred", [([0, 0, 0], [0, 0, 0]), ([0, 0, 0], [0, 1, 2]), ([0, 1, 1, 2], [1, 1, 1, 1]),
                                         ([0, 1, 1, 2], [3, 0, 0, 3]), ([2, 2, 0, 0], [0, 0, 4, 4])])
def test_nmi_from_table_matches_scikit_learn_edge_cases(truth, pred):
    # trivial partitions, zero mutual information, and empty rows / columns in the table
    table = contingency(np.array(truth), np.array(pred), 3, 5)
    assert agreement_scores(table)["nmi"] == pytest.approx(normalized_mutual_info_score(truth, pred), abs=1e-12)


def test_ari_hand_computed_and_edge_cases():
    # classes [0,0,1,1], clusters [0,0,0,1]: pairs agreeing in both = 1; rows 2, cols 3, total 6
    table = contingency(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1]), 2, 2)
    expected = (1 - 2 * 3 / 6) / ((2 + 3) / 2 - 2 * 3 / 6)
    assert adjusted_rand_from_contingency(table) == pytest.approx(expected)
    assert adjusted_rand_from_contingency(np.array([[5]])) == 1.0  # one class, one cluster


def test_ari_exact_beyond_int64_pair_counts():
    # 2**33 pixels per cell: pair counts ~ 2**65 overflow int64, Python integers do not
    big = np.array([[2**33, 0], [0, 2**33]], dtype=np.int64)
    assert adjusted_rand_from_contingency(big) == 1.0
    skewed = np.array([[2**33, 2**32], [2**32, 2**33]], dtype=np.int64)
    small = skewed // 2**16  # the same proportions at a size scikit-learn handles
    truth = np.repeat([0, 0, 1, 1], small.ravel())
    pred = np.repeat([0, 1, 0, 1], small.ravel())
    assert adjusted_rand_from_contingency(skewed) == pytest.approx(adjusted_rand_score(truth, pred), abs=1e-5)


def test_contingency_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="differ in size"):
        contingency(np.zeros(3, int), np.zeros(4, int), 1, 1)
