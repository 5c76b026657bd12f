"""KLiSH: K-means with Linear Separability Heuristic (Xu, Zhang, Hu, "Extracting Semantic Knowledge from GANs with
Unsupervised Learning", TPAMI 2023; arXiv 2211.16710). Spec: shared/research/klish_spec.md section 2.

Start from K0 K-means clusters (re-indexed by size), train one-vs-rest squared-hinge linear SVMs, and repeatedly
merge the least linearly separable cluster p (lowest IoU between its SVM's positive region and the cluster) into
the cluster q whose SVM responds most like p's (highest cosine of the clamped response maps), recording the trained
K-way classifier for every K from K0 down to 2. Pseudo-labels are never re-assigned from the classifiers.

Fast and exact: merging p into q changes only SVM q's targets and deletes SVM p, so `solver="fast"` trains all SVMs
exactly once, then after each merge retrains only q (warm-started from the size-weighted average of the two rows)
and updates only q's row and column of the statistics. `solver="reference"` re-optimises every SVM at every step
with the reference's L-BFGS schedule and recomputes all statistics, for comparison.
"""

from __future__ import annotations

import logging
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from tqdm import tqdm

from klish.cluster.kmeans import fit_kmeans
from klish.cluster.svm import ActiveSet, augmented_gram, fit_binary_svms, fit_joint_lbfgs
from klish.extractor import LinearExtractor

log = logging.getLogger(__name__)

SVM_BLOCK = 32  # SVMs trained in lockstep (memory: a few [n_pixels, SVM_BLOCK] float32 buffers)


class KLiSH(ClusterMixin, BaseEstimator):
    """Cluster pixels of generator features by merging K-means clusters while they stay linearly separable.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters of `labels_`, `coef_` and `predict`. The merge history always runs down to 2.
    n_init_clusters : int, default=100
        K0, the number of initial K-means clusters (capped at the number of samples).
    C : float, default=5000.0
        SVM data-term weight; the per-pixel weight is C / n_samples (the reference's `svm_coef`).
    C_scaling : {"none", "feature_variance"}, default="none"
        "none" uses C as given (the reference). The squared-hinge SVM is not scale invariant (features scaled by a
        act like C scaled by a^2), so "feature_variance" divides C by the mean squared norm of the centred pixel
        features: the same as fitting on features rescaled to unit mean squared norm, whatever their units.
    max_iter : int, default=20
        Solver iterations per training: Newton iterations per SVM (fast) or outer L-BFGS steps (reference).
    tol : float, default=1e-4
        Stopping tolerance: relative gradient (fast) or largest weight change (reference).
    solver : {"fast", "reference"}, default="fast"
        "fast" retrains only the merged SVM after each merge (exact); "reference" retrains every SVM every step.
    init : {"k-means++", "random"} or array of shape (n_init_clusters, n_features), default="k-means++"
        K-means initialisation, or the initial centroids themselves (e.g. K-means fit on another sample set).
    init_max_iter : int, default=20
        Lloyd iterations of the initial K-means (the reference uses 20).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial K-means.
    verbose : int, default=0
        Show a progress bar over merges when positive.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Pseudo-labels at `n_clusters`: the K-means assignment after the successive merges.
    n_clusters_ : int
        Number of clusters of `labels_`.
    coef_ : ndarray of shape (n_clusters, n_features)
        The trained `n_clusters`-way linear classifier (the semantic extractor's weights).
    intercept_ : ndarray of shape (n_clusters,)
    merge_history_ : list of dict
        One record per K from K0 down to 2 (plus a trivial K = 1 record with zero weights): `n_clusters`, `coef`,
        `intercept` (the K-way classifier before the merge), `merged` ([q, p] row indices: p is merged into q),
        `nodes` ([id(q), id(p), new id], scipy-linkage style: leaves 0..K0-1 in size order), `delete_metric` (IoU
        of p), `merge_metric` (cosine of p and q), `iou` (per-cluster IoU) and `sizes` (pixels per cluster).
    init_labels_ : ndarray of shape (n_samples,)
        The initial K-means pseudo-labels, clusters numbered by descending size (the partition at K0).
    n_init_clusters_ : int
    C_effective_ : float
        The C the SVMs were trained with (C, or C over the feature variance with `C_scaling="feature_variance"`).
    n_iter_ : int
        Total solver iterations over the whole fit.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from klish import KLiSH
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10]], dtype=np.float32)
    >>> model = KLiSH(n_clusters=2, n_init_clusters=4, random_state=0).fit(X)
    >>> sorted(np.bincount(model.labels_).tolist())
    [3, 3]
    >>> model.predict(np.array([[0.5, 0.5], [10.5, 10.5]], dtype=np.float32)).tolist() == model.labels_[[0, 3]].tolist()
    True
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "n_init_clusters": [Interval(Integral, 2, None, closed="left")],
        "C": [Interval(Real, 0, None, closed="neither")],
        "C_scaling": [StrOptions({"none", "feature_variance"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions({"fast", "reference"})],
        "init": [StrOptions({"k-means++", "random"}), "array-like"],
        "init_max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, n_clusters: int = 8, *, n_init_clusters: int = 100, C: float = 5000.0,
                 C_scaling: str = "none", max_iter: int = 20, tol: float = 1e-4, solver: str = "fast",
                 init: Any = "k-means++", init_max_iter: int = 20, random_state: Any = None,
                 verbose: int = 0) -> None:
        self.n_clusters = n_clusters
        self.n_init_clusters = n_init_clusters
        self.C = C
        self.C_scaling = C_scaling
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.init = init
        self.init_max_iter = init_max_iter
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> KLiSH:
        """Run KLiSH on pixel features X [n_samples, n_features]; `y` is ignored."""
        X = validate_data(self, X, dtype=np.float32, order="C", ensure_min_samples=2)
        n, n_features = X.shape
        if n < self.n_clusters:
            raise ValueError(f"n_samples={n} should be >= n_clusters={self.n_clusters}.")
        centroids = self._initial_centroids(X)
        k0 = centroids.shape[0]
        if k0 < self.n_clusters:
            raise ValueError(f"n_init_clusters={k0} (after capping at n_samples) should be >= "
                             f"n_clusters={self.n_clusters}.")
        self.n_init_clusters_ = k0

        # Centroids as a linear classifier whose argmax is the nearest centroid, rescaled so max |b| = 1/2.
        sq_norms = (centroids.astype(np.float64) ** 2).sum(axis=1)
        scale = max(float(sq_norms.max()), 1e-12)
        coef = (centroids / scale).astype(np.float64)
        intercept = -0.5 * sq_norms / scale
        labels = _argmax_scores(X, coef, intercept)
        sizes = np.bincount(labels, minlength=k0)
        order = np.argsort(-sizes, kind="stable")  # clusters re-indexed by descending size
        coef, intercept = coef[order], intercept[order]
        labels = np.argsort(order)[labels].astype(np.int32)
        self.init_labels_ = labels.astype(np.int64)

        reference = self.solver == "reference"
        # The fast solver trains on centred features: the same classifiers (b_centred = b + w . mean, the bias is not
        # regularised), far better conditioned when features sit far from the origin. The reference solver sees the
        # raw features, as the reference does.
        mean = np.zeros(n_features) if reference else X.mean(axis=0, dtype=np.float64)
        work = X if reference else (X - mean.astype(np.float32)).astype(np.float32)
        self.C_effective_ = float(self.C)
        if self.C_scaling == "feature_variance":
            variance = _mean_squared_centred_norm(X)
            self.C_effective_ = float(self.C / max(variance, 1e-12))
        state = _MergeState(work, labels, coef, intercept + coef @ mean, C=self.C_effective_, max_iter=self.max_iter,
                            tol=self.tol, reference=reference, mean=mean)
        del X, work  # the state holds the only copy the fit needs
        history: list[dict[str, Any]] = []
        chosen_labels = None
        bar = tqdm(total=k0 - 1, desc="KLiSH merges", unit="merge", disable=not self.verbose)
        state.train(state.active.copy())
        while True:
            k = len(state.active)
            if k == self.n_clusters:
                chosen_labels = state.current_labels()
            if k < 2:
                break
            record = state.merge_step()
            history.append(record)
            bar.update(1)
        bar.close()
        if state.unconverged:
            warnings.warn(f"KLiSH: {state.unconverged} SVM trainings stopped at max_iter={self.max_iter} before "
                          f"converging (tol={self.tol}); increase max_iter", ConvergenceWarning, stacklevel=2)
        # K = 1 is the trivial clustering: no classifier is trained for it (as in the reference), all scores are 0.
        history.append({"n_clusters": 1, "coef": np.zeros((1, n_features), np.float32),
                        "intercept": np.zeros(1, np.float32), "merged": None, "nodes": None, "delete_metric": None,
                        "merge_metric": None, "iou": None, "sizes": np.array([n])})
        self.merge_history_ = history
        self.labels_ = chosen_labels
        self.n_clusters_ = int(self.n_clusters)
        chosen = self._record(self.n_clusters)
        self.coef_ = chosen["coef"]
        self.intercept_ = chosen["intercept"]
        self.n_iter_ = state.n_iter
        return self

    def _initial_centroids(self, X: np.ndarray) -> np.ndarray:
        if not isinstance(self.init, str):
            centroids = np.asarray(self.init, dtype=np.float32)
            if centroids.ndim != 2 or centroids.shape[1] != X.shape[1]:
                raise ValueError(f"init centroids have shape {centroids.shape}; expected (n_init_clusters, "
                                 f"{X.shape[1]})")
            return centroids
        k0 = min(self.n_init_clusters, X.shape[0])
        # duplicate points can leave fewer distinct clusters than k0: KLiSH merges the empty ones first
        centroids = fit_kmeans(X, k0, max_iter=self.init_max_iter, random_state=check_random_state(self.random_state),
                               init=self.init)
        return centroids.astype(np.float32)

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """Fit and return `labels_` (the pseudo-labels at `n_clusters`)."""
        return self.fit(X).labels_

    # ------------------------------------------------------------------------------------------- extraction
    def _record(self, k: int) -> dict[str, Any]:
        check_is_fitted(self, "merge_history_")
        for record in self.merge_history_:
            if record["n_clusters"] == k:
                return record
        valid = [r["n_clusters"] for r in self.merge_history_]
        raise ValueError(f"no classifier for k={k}: the merge history holds k in {min(valid)}..{max(valid)}")

    @property
    def k_values_(self) -> list[int]:
        """The K values with a classifier in the merge history (K0 down to 1)."""
        check_is_fitted(self, "merge_history_")
        return sorted(record["n_clusters"] for record in self.merge_history_)

    def extractor(self, k: int | None = None) -> LinearExtractor:
        """The k-way linear semantic extractor (default: `n_clusters`), for labelling new samples' features."""
        record = self._record(self.n_clusters_ if k is None else k)
        return LinearExtractor(coef=record["coef"], intercept=record["intercept"])

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores [n_samples, n_clusters] of the `n_clusters`-way classifier."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return X @ self.coef_.T + self.intercept_

    def predict(self, X: Any) -> np.ndarray:
        """Cluster of each sample by the `n_clusters`-way linear semantic extractor."""
        return self.decision_function(X).argmax(axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _mean_squared_centred_norm(X: np.ndarray, chunk: int = 65536) -> float:
    """mean_i ||x_i - mean(x)||^2 of X [n, D], accumulated in float64 over pixel chunks."""
    mean = X.mean(axis=0, dtype=np.float64)
    total = 0.0
    for start in range(0, X.shape[0], chunk):
        block = X[start:start + chunk].astype(np.float64) - mean
        total += float((block * block).sum())
    return total / X.shape[0]


def _argmax_scores(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """argmax_k (X coef^T + b) in pixel chunks: [n] int."""
    out = np.empty(X.shape[0], dtype=np.int64)
    coef32 = coef.astype(np.float32).T
    b32 = intercept.astype(np.float32)
    for start in range(0, X.shape[0], chunk):
        out[start:start + chunk] = (X[start:start + chunk] @ coef32 + b32).argmax(axis=1)
    return out


class _MergeState:
    """Weights, labels and merge statistics over fixed slots 0..K0-1, of which `active` are still clusters.

    Per active slot k it keeps the clamped responses r_k = (clip(s_k, -1, 1) + 1) / 2 over all pixels (a [K0, P]
    float32 buffer), the IoU terms, and the Gram matrix of the responses, so a merge touches one row and column;
    the fast solver also keeps each SVM's last active set and its Gram matrix, to warm-start the Newton Hessian.
    """

    def __init__(self, X: np.ndarray, labels: np.ndarray, coef: np.ndarray, intercept: np.ndarray, *, C: float,
                 max_iter: int, tol: float, reference: bool, mean: np.ndarray) -> None:
        self.X = X  # centred features [P, D]
        self.mean = mean  # [D]: records convert intercepts back to uncentred features
        self.labels = labels  # [P] slot of each pixel
        k0 = coef.shape[0]
        self.coef = coef.astype(np.float32)  # [K0, D]
        self.intercept = intercept.astype(np.float64)  # [K0]
        self.C, self.max_iter, self.tol, self.reference = C, max_iter, tol, reference
        self.active = np.arange(k0)
        self.sizes = np.bincount(labels, minlength=k0).astype(np.int64)
        self.node = np.arange(k0)
        self.next_node = k0
        self.responses = np.zeros((k0, X.shape[0]), dtype=np.float32)
        self.active_sets: list[ActiveSet | None] = [None] * k0
        self.positive = np.zeros(k0, dtype=np.int64)  # |{s_k > 0}|
        self.inter = np.zeros(k0, dtype=np.int64)  # |{s_k > 0} & {y = k}|
        self.gram = np.zeros((k0, k0), dtype=np.float64)  # Gram matrix of the clamped responses
        self.n_iter = 0
        self.unconverged = 0
        self.feature_gram = None if reference else augmented_gram(X)  # shared by every exact SVM solve

    def current_labels(self) -> np.ndarray:
        """Pseudo-labels as 0..K-1 in the order of the active slots."""
        index = np.full(len(self.sizes), -1, dtype=np.int64)
        index[self.active] = np.arange(len(self.active))
        return index[self.labels]

    def train(self, slots: np.ndarray) -> None:
        """Train the SVMs of `slots` on the current labels and refresh their statistics (reference: all of them)."""
        if self.reference:
            slots = self.active
            # every SVM, jointly, with the reference's L-BFGS schedule, starting from the current weights
            coef, intercept, steps = fit_joint_lbfgs(self.X, self.current_labels(), self.coef[self.active],
                                                     self.intercept[self.active], C=self.C,
                                                     max_iter=self.max_iter, tol=self.tol)
            self.coef[self.active], self.intercept[self.active] = coef, intercept
            self.n_iter += steps
            self.unconverged += int(steps == self.max_iter)
            scores = self.X @ coef.T + intercept.astype(np.float32)  # [P, K]
            for j, slot in enumerate(self.active):
                self._set_column(slot, scores[:, j])
        else:
            # independent problems, trained in lockstep blocks that share their passes over the features
            for lo in range(0, len(slots), SVM_BLOCK):
                block = slots[lo:lo + SVM_BLOCK]
                results = fit_binary_svms(self.X, self.labels[:, None] == block[None, :], self.coef[block],
                                          self.intercept[block], C=self.C, max_iter=self.max_iter * 5,
                                          tol=self.tol * 1e-2, gram=self.feature_gram,
                                          active=[self.active_sets[slot] for slot in block])
                for slot, result in zip(block, results):
                    self.coef[slot], self.intercept[slot] = result.coef, result.intercept
                    self.active_sets[slot] = result.active
                    self.n_iter += result.n_iter
                    self.unconverged += int(not result.converged)
                    self._set_column(slot, result.scores)
        # Gram rows of the refreshed responses against every active response (all K0 rows: no copy of the buffer)
        act = self.active
        block = (self.responses @ self.responses[slots].T)[act]  # [K, len(slots)]
        self.gram[np.ix_(act, slots)] = block
        self.gram[np.ix_(slots, act)] = block.T

    def _set_column(self, slot: int, scores: np.ndarray) -> None:
        self.responses[slot] = (np.clip(scores, -1.0, 1.0) + 1.0) / 2.0
        above = scores > 0
        self.positive[slot] = int(above.sum())
        self.inter[slot] = int(above[self.labels == slot].sum())

    def merge_step(self) -> dict[str, Any]:
        """Record the current K-way classifier, choose (p, q), merge p into q and retrain what changed."""
        act = self.active
        union = self.positive[act] + self.sizes[act] - self.inter[act]
        iou = self.inter[act] / np.maximum(union, 1e-9)
        p = int(np.argmin(iou))
        norms = np.sqrt(np.diag(self.gram)[act])
        cos = self.gram[np.ix_(act, act)] / np.maximum(np.outer(norms, norms), 1e-9)
        # The reference sets cos[p, p] = 0; when every other cosine is 0 too (an SVM with no positive response),
        # its argmax picks p itself. Excluding p keeps every step a real merge.
        cos[p, p] = -np.inf
        q = int(np.argmax(cos[p]))
        sp, sq = act[p], act[q]
        record = {
            "n_clusters": len(act), "coef": self.coef[act].copy(),
            "intercept": (self.intercept[act] - self.coef[act].astype(np.float64) @ self.mean).astype(np.float32),
            "merged": [q, p], "nodes": [int(self.node[sq]), int(self.node[sp]), self.next_node],
            "delete_metric": float(iou[p]), "merge_metric": float(cos[p, q]), "iou": iou.astype(np.float32),
            "sizes": self.sizes[act].copy(),
        }
        # merge p into q: size-weighted average of the two rows, labels of p become q's
        alpha = self.sizes[sp] / max(self.sizes[sp] + self.sizes[sq], 1)
        self.coef[sq] = alpha * self.coef[sp] + (1 - alpha) * self.coef[sq]
        self.intercept[sq] = alpha * self.intercept[sp] + (1 - alpha) * self.intercept[sq]
        self.labels[self.labels == sp] = sq
        self.sizes[sq] += self.sizes[sp]
        self.sizes[sp] = 0
        self.node[sq] = self.next_node
        self.next_node += 1
        self.active = act[act != sp]
        self.active_sets[sp] = None
        if len(self.active) >= 2:
            self.train(np.array([sq]))
        return record
