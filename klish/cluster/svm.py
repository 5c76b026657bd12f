"""One-vs-rest L2-regularised squared-hinge linear SVMs, the classifiers KLiSH trains (spec section 2.3).

For class k with targets t_i = +1 if y_i = k else -1, the reference minimises, jointly over k,
    (C / (K P)) sum_i sum_k max(0, 1 - t_ik s_ik)^2 + (1 / 2K) sum_k ||w_k||^2,   s_ik = w_k . x_i + b_k,
with an unregularised bias. The K problems are independent and the common 1/K does not move any minimiser, so each
SVM is   min_w,b  1/2 ||w||^2 + (C/P) sum_i max(0, 1 - t_i s_i)^2.

`fit_binary_svm` solves one of them exactly with a generalised Newton method (the objective is a strictly convex
piecewise quadratic; Mangasarian 2002, Keerthi & DeCoste 2005): the Hessian is formed on the active set (the margin
violators) and updated incrementally as the active set changes, and a full Newton step that leaves the active set
unchanged lands on the optimum. `fit_joint_lbfgs` is the reference procedure: all K SVMs re-optimised jointly with
torch's L-BFGS (5 iterations a step, learning rate 1, no line search) for up to `max_iter` steps, stopping when the
largest weight change is below `tol`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class BinarySVMResult:
    """Solution of one SVM: weights [C], bias, scores [P] on the training pixels, iterations, convergence."""

    coef: np.ndarray
    intercept: float
    scores: np.ndarray
    n_iter: int
    converged: bool


def _objective(w: np.ndarray, t: np.ndarray, s: np.ndarray, c: float) -> float:
    xi = np.maximum(0.0, 1.0 - t * s)
    return 0.5 * float(w @ w) + c * float(xi.astype(np.float64) @ xi)


def augmented_gram(X: np.ndarray) -> np.ndarray:
    """[X, 1]^T [X, 1] in float64, [D+1, D+1]: shared by every SVM on the same features (see fit_binary_svm)."""
    d = X.shape[1]
    gram = np.empty((d + 1, d + 1))
    gram[:d, :d] = X.T @ X
    gram[:d, d] = gram[d, :d] = X.sum(axis=0, dtype=np.float64)
    gram[d, d] = X.shape[0]
    return gram


def _rows_gram(X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[X_m, 1]^T [X_m, 1] over the rows in `mask`, float64 [D+1, D+1]."""
    d = X.shape[1]
    out = np.zeros((d + 1, d + 1))
    if mask.any():
        rows = X[mask]
        out[:d, :d] = rows.T @ rows
        out[:d, d] = out[d, :d] = rows.sum(axis=0, dtype=np.float64)
        out[d, d] = mask.sum()
    return out


def fit_binary_svm(X: np.ndarray, positive: np.ndarray, coef: np.ndarray, intercept: float, *, C: float,
                   max_iter: int = 50, tol: float = 1e-6, scores: np.ndarray | None = None,
                   gram: np.ndarray | None = None) -> BinarySVMResult:
    """Exact minimiser of 1/2||w||^2 + (C/P) sum sqhinge for X [P, D] float32, `positive` [P] bool, warm-started at
    (coef, intercept); `scores` = X @ coef + intercept when the caller already has them. Centre X first (the
    unregularised bias absorbs any shift): features far from the origin make the bias and weights ill-conditioned.

    `gram` = augmented_gram(X) lets the Hessian be formed from whichever side of the active set is smaller (all
    pixels are active when the classifier starts from K-means centroids, whose scores all lie within the margin).
    The gradient is always computed directly from the features: it decides where the solver stops, so it must not
    inherit the rounding of the incrementally updated Hessian.
    """
    n, d = X.shape
    c = C / n
    t = np.where(positive, 1.0, -1.0).astype(np.float32)
    w = np.asarray(coef, dtype=np.float64).copy()
    b = float(intercept)
    s = (X @ w.astype(np.float32) + np.float32(b)) if scores is None else np.asarray(scores, dtype=np.float32).copy()
    active_gram = np.zeros((d + 1, d + 1))  # [X_A, 1]^T [X_A, 1]
    active_prev: np.ndarray | None = None
    g0 = None
    for it in range(1, max_iter + 1):
        xi = 1.0 - t * s
        active = xi > 0
        weights = np.where(active, t * xi, 0.0).astype(np.float32)  # t_i xi_i on the active set
        grad = np.empty(d + 1)
        grad[:d] = w - 2 * c * (X.T @ weights).astype(np.float64)
        grad[d] = -2 * c * float(weights.sum(dtype=np.float64))
        gmax = float(np.abs(grad).max())
        g0 = gmax if g0 is None else g0
        if gmax <= tol * max(1.0, g0):
            return BinarySVMResult(w.astype(np.float32), b, s, it - 1, True)
        # Generalised Hessian: I (weights only) + 2c [X_A, 1]^T [X_A, 1], built from the fewest rows possible.
        n_active = int(active.sum())
        if active_prev is not None:
            added, removed = active & ~active_prev, active_prev & ~active
            n_changed = int(added.sum() + removed.sum())
        if active_prev is not None and n_changed < min(n_active, n - n_active):
            active_gram += _rows_gram(X, added) - _rows_gram(X, removed)
        elif gram is not None and n - n_active < n_active:
            active_gram = gram - _rows_gram(X, ~active)
        else:
            active_gram = _rows_gram(X, active)
        active_prev = active
        system = 2 * c * active_gram
        system[np.arange(d), np.arange(d)] += 1.0
        system[d, d] += 1e-12  # no active pixel: the bias is free; keep the system solvable
        step = np.linalg.solve(system, -grad)
        u = X @ step[:d].astype(np.float32) + np.float32(step[d])
        # Armijo backtracking (a full step is almost always accepted)
        f0 = _objective(w, t, s, c)
        slope = float(grad @ step)
        alpha = 1.0
        while _objective(w + alpha * step[:d], t, s + np.float32(alpha) * u, c) > f0 + 1e-4 * alpha * slope:
            alpha *= 0.5
            if alpha < 1e-8:  # no decrease left at float32 precision: this is the optimum to working accuracy
                return BinarySVMResult(w.astype(np.float32), b, s, it, True)
        w += alpha * step[:d]
        b += alpha * step[d]
        s = s + np.float32(alpha) * u
        if alpha == 1.0 and np.array_equal(1.0 - t * s > 0, active):
            # The quadratic piece did not change, so the Newton step hit its minimiser, which is the optimum.
            # Confirm on fresh scores (s accumulated in float32 drifts slightly from X w + b).
            s = X @ w.astype(np.float32) + np.float32(b)
            if np.array_equal(1.0 - t * s > 0, active):
                return BinarySVMResult(w.astype(np.float32), b, s, it, True)
    s = X @ w.astype(np.float32) + np.float32(b)
    return BinarySVMResult(w.astype(np.float32), b, s, max_iter, False)


def fit_joint_lbfgs(X: np.ndarray, labels: np.ndarray, coef: np.ndarray, intercept: np.ndarray, *, C: float,
                    max_iter: int = 20, tol: float = 1e-4, chunks: int = 8) -> tuple[np.ndarray, np.ndarray, int]:
    """The reference trainer: all K SVMs (labels in 0..K-1) jointly by L-BFGS(max_iter=5, lr=1, no line search),
    re-created fresh, up to `max_iter` steps until max |dW| < tol. Returns (coef, intercept, steps taken)."""
    k = coef.shape[0]
    n = X.shape[0]
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    w = torch.tensor(coef, dtype=torch.float32, requires_grad=True)
    b = torch.tensor(intercept, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=5)
    bounds = np.linspace(0, n, chunks + 1).astype(int)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        total = 0.5 / k * (w * w).sum()
        total.backward()
        value = float(total.detach())
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            if hi <= lo:
                continue
            s = x[lo:hi] @ w.T + b  # [p, K]
            own = s.gather(1, y[lo:hi, None]).squeeze(1)
            # sum over k of sqhinge with t=-1 everywhere, corrected at the own class (t=+1): no one-hot needed
            loss = (torch.relu(1 + s) ** 2).sum() - (torch.relu(1 + own) ** 2).sum() + (torch.relu(1 - own) ** 2).sum()
            loss = loss * (C / (k * n))
            loss.backward()
            value += float(loss.detach())
        return torch.tensor(value)

    steps = 0
    while steps < max_iter:
        steps += 1
        previous = w.detach().clone()
        opt.step(closure)
        if float((w.detach() - previous).abs().max()) < tol:
            break
    return w.detach().numpy().copy(), b.detach().numpy().copy(), steps
