import numpy as np
import pytest
from scipy.optimize import minimize

from klish.cluster import svm
from klish.cluster.svm import fit_binary_svm, fit_joint_lbfgs


def _problem(seed, n=300, d=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    positive = X @ rng.normal(size=d) + 0.3 * rng.normal(size=n) > 0.4
    return X, positive


def _scipy_solution(X, positive, C):
    """Independent reference: the same objective minimised by scipy's L-BFGS-B in float64 to tight tolerance."""
    X64, t = X.astype(np.float64), np.where(positive, 1.0, -1.0)
    c = C / len(X)

    def f(v):
        w, b = v[:-1], v[-1]
        xi = np.maximum(0.0, 1 - t * (X64 @ w + b))
        grad = np.append(w - 2 * c * X64.T @ (t * xi), -2 * c * (t * xi).sum())
        return 0.5 * w @ w + c * xi @ xi, grad

    res = minimize(f, np.zeros(X.shape[1] + 1), jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15,
                                                                                       "maxiter": 20000})
    return res.x[:-1], res.x[-1], res.fun


@pytest.mark.parametrize("C", [10.0, 5000.0])
def test_newton_matches_an_independent_optimiser(C):
    X, positive = _problem(0)
    w_ref, b_ref, f_ref = _scipy_solution(X, positive, C)
    result = fit_binary_svm(X, positive, np.zeros(5), 0.0, C=C, max_iter=100, tol=1e-8)
    assert result.converged and result.n_iter < 30
    np.testing.assert_allclose(result.coef, w_ref, rtol=1e-3, atol=1e-3 * np.abs(w_ref).max())
    assert abs(result.intercept - b_ref) <= 1e-3 * max(1.0, abs(b_ref))
    np.testing.assert_allclose(result.scores, X @ result.coef + result.intercept, atol=1e-4)


def test_warm_start_converges_to_the_same_optimum():
    X, positive = _problem(1)
    cold = fit_binary_svm(X, positive, np.zeros(5), 0.0, C=100.0, max_iter=100, tol=1e-8)
    warm = fit_binary_svm(X, positive, cold.coef + 0.05, cold.intercept - 0.1, C=100.0, max_iter=100, tol=1e-8)
    np.testing.assert_allclose(warm.coef, cold.coef, atol=1e-4)


def test_subsampled_hessian_steps_reach_the_same_optimum(monkeypatch):
    # Force the cold-start shortcut (Newton directions from a pixel subsample's Hessian) on a small problem: the
    # solve must still end at the exact optimum, on exact steps.
    monkeypatch.setattr(svm, "APPROX_HESSIAN_ROWS", 0)
    monkeypatch.setattr(svm, "APPROX_HESSIAN_STRIDE", 4)
    X, positive = _problem(3, n=2000)
    w_ref, b_ref, _ = _scipy_solution(X, positive, 500.0)
    result = fit_binary_svm(X, positive, np.zeros(5), 0.0, C=500.0, max_iter=100, tol=1e-8)
    assert result.converged
    np.testing.assert_allclose(result.coef, w_ref, rtol=1e-3, atol=1e-3 * np.abs(w_ref).max())


def test_active_set_carried_over_after_a_target_change():
    # The state of one solve warm-starts the Hessian of another with different targets (a merge): same optimum.
    X, positive = _problem(4)
    first = fit_binary_svm(X, positive, np.zeros(5), 0.0, C=100.0, max_iter=100, tol=1e-8)
    assert first.active is not None and first.active.mask.shape == (len(X),)
    merged = positive | (X[:, 0] > 1.0)
    carried = fit_binary_svm(X, merged, first.coef, first.intercept, C=100.0, max_iter=100, tol=1e-8,
                             active=first.active)
    fresh = fit_binary_svm(X, merged, np.zeros(5), 0.0, C=100.0, max_iter=100, tol=1e-8)
    assert carried.converged and fresh.converged
    np.testing.assert_allclose(carried.coef, fresh.coef, atol=1e-4)
    assert abs(carried.intercept - fresh.intercept) < 1e-4


def test_joint_lbfgs_decreases_the_reference_objective():
    X, positive = _problem(2)
    labels = positive.astype(int)
    w, b, steps = fit_joint_lbfgs(X, labels, np.zeros((2, 5), np.float32), np.zeros(2, np.float32), C=10.0,
                                  max_iter=50, tol=1e-6)
    # each row is (close to) the exact one-vs-rest solution of its class
    for k in range(2):
        exact = fit_binary_svm(X, labels == k, np.zeros(5), 0.0, C=10.0, max_iter=100, tol=1e-8)
        np.testing.assert_allclose(w[k], exact.coef, atol=2e-3)
    assert 1 <= steps <= 50
