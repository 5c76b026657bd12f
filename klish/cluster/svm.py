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
    `gram` = augmented_gram(X) lets the Hessian be formed from whichever side of the active set is smaller."""
    results = fit_binary_svms(X, np.asarray(positive)[:, None], np.asarray(coef)[None], np.array([intercept]), C=C,
                              max_iter=max_iter, tol=tol, gram=gram,
                              scores=None if scores is None else np.asarray(scores)[:, None])
    return results[0]


def fit_binary_svms(X: np.ndarray, positive: np.ndarray, coef: np.ndarray, intercept: np.ndarray, *, C: float,
                    max_iter: int = 50, tol: float = 1e-6, scores: np.ndarray | None = None,
                    gram: np.ndarray | None = None) -> list[BinarySVMResult]:
    """`fit_binary_svm` for B independent problems on the same X at once, in lockstep: `positive` [P, B] bool,
    `coef` [B, D], `intercept` [B], `scores` [P, B]. Each problem takes exactly the iterations it would take alone;
    the feature passes of all unconverged problems are shared (one matrix product instead of B vector products).

    The generalised Hessian I + 2c [X_A, 1]^T [X_A, 1] of each problem is kept per problem and updated with the rows
    that entered or left its active set (all pixels are active when the classifier starts from K-means centroids,
    whose scores all lie within the margin; then `gram` gives it for free). The gradient is always computed
    directly from the features: it decides where the solver stops, so it must not inherit the rounding of the
    incrementally updated Hessian.
    """
    n, d = X.shape
    n_problems = positive.shape[1]
    c = C / n
    w = np.asarray(coef, dtype=np.float64).copy()  # [B, D]
    b = np.asarray(intercept, dtype=np.float64).copy()  # [B]
    # [P, B] in column order: each problem updates its own column
    s = np.array(X @ w.T.astype(np.float32) + b.astype(np.float32) if scores is None else scores,
                 dtype=np.float32, order="F")
    active_gram = [np.zeros((d + 1, d + 1)) for _ in range(n_problems)]  # [X_A, 1]^T [X_A, 1] per problem
    active_prev: list[np.ndarray | None] = [None] * n_problems
    g0 = np.full(n_problems, np.nan)
    done: list[BinarySVMResult | None] = [None] * n_problems

    def target(j: int) -> np.ndarray:
        return np.where(positive[:, j], np.float32(1.0), np.float32(-1.0))

    def finish(j: int, n_iter: int, converged: bool, fresh: np.ndarray | None = None) -> None:
        done[j] = BinarySVMResult(w[j].astype(np.float32), float(b[j]), s[:, j] if fresh is None else fresh, n_iter,
                                  converged)

    for it in range(1, max_iter + 1):
        todo = [j for j in range(n_problems) if done[j] is None]
        if not todo:
            break
        # gradients of every unfinished problem in one pass over X
        t = np.where(positive[:, todo], np.float32(1.0), np.float32(-1.0))  # [P, m]
        xi = 1.0 - t * s[:, todo]
        active = xi > 0
        weights = np.where(active, t * xi, np.float32(0.0))
        grad = np.empty((len(todo), d + 1))
        grad[:, :d] = w[todo] - 2 * c * (X.T @ weights).T.astype(np.float64)
        grad[:, d] = -2 * c * weights.sum(axis=0, dtype=np.float64)
        del t, xi, weights
        steps, stepping = [], []
        for col, j in enumerate(todo):
            gmax = float(np.abs(grad[col]).max())
            if np.isnan(g0[j]):
                g0[j] = gmax
            if gmax <= tol * max(1.0, g0[j]):
                finish(j, it - 1, True)
                continue
            act = active[:, col]
            n_active = int(act.sum())
            prev = active_prev[j]
            if prev is not None:
                added, removed = act & ~prev, prev & ~act
                n_changed = int(added.sum() + removed.sum())
            if prev is not None and n_changed < min(n_active, n - n_active):
                active_gram[j] += _rows_gram(X, added) - _rows_gram(X, removed)
            elif gram is not None and n - n_active < n_active:
                active_gram[j] = gram - _rows_gram(X, ~act)
            else:
                active_gram[j] = _rows_gram(X, act)
            active_prev[j] = act.copy()
            system = 2 * c * active_gram[j]
            system[np.arange(d), np.arange(d)] += 1.0
            system[d, d] += 1e-12  # no active pixel: the bias is free; keep the system solvable
            steps.append(np.linalg.solve(system, -grad[col]))
            stepping.append((j, col))
        if not stepping:
            continue
        step_mat = np.array(steps)  # [m', D+1]
        u_all = X @ step_mat[:, :d].T.astype(np.float32) + step_mat[:, d].astype(np.float32)  # [P, m']
        confirm = []
        for i, (j, col) in enumerate(stepping):
            tj, sj, uj, step = target(j), s[:, j], u_all[:, i], step_mat[i]
            # Armijo backtracking (a full step is almost always accepted)
            f0 = _objective(w[j], tj, sj, c)
            slope = float(grad[col] @ step)
            alpha = 1.0
            while _objective(w[j] + alpha * step[:d], tj, sj + np.float32(alpha) * uj, c) > f0 + 1e-4 * alpha * slope:
                alpha *= 0.5
                if alpha < 1e-8:  # no decrease left at float32 precision: the optimum to working accuracy
                    break
            if alpha < 1e-8:
                finish(j, it, True)
                continue
            w[j] += alpha * step[:d]
            b[j] += alpha * step[d]
            s[:, j] = sj + np.float32(alpha) * uj
            if alpha == 1.0 and np.array_equal(1.0 - tj * s[:, j] > 0, active_prev[j]):
                confirm.append(j)
        if confirm:
            # The quadratic piece did not change, so the Newton step hit its minimiser, which is the optimum.
            # Confirm on fresh scores (s accumulated in float32 drifts slightly from X w + b).
            fresh = X @ w[confirm].T.astype(np.float32) + b[confirm].astype(np.float32)
            for i, j in enumerate(confirm):
                if np.array_equal(1.0 - target(j) * fresh[:, i] > 0, active_prev[j]):
                    finish(j, it, True, fresh[:, i].copy())
                else:
                    s[:, j] = fresh[:, i]
    left = [j for j in range(n_problems) if done[j] is None]
    if left:
        fresh = X @ w[left].T.astype(np.float32) + b[left].astype(np.float32)
        for i, j in enumerate(left):
            finish(j, max_iter, False, fresh[:, i].copy())
    return done  # type: ignore[return-value]


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
