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

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

log = logging.getLogger(__name__)

SPARSE_GRADIENT = 0.25  # a problem whose active pixels are fewer than this fraction gathers them for its gradient
APPROX_HESSIAN_STRIDE = 8  # a subsampled Hessian uses every 8th pixel ...
APPROX_HESSIAN_ROWS = 16384  # ... when an exact one would cost more than this many rows (and more than P / 8)
DECREMENT_TOL = 1e-7  # stop when the Newton decrement promises less than this relative decrease of the objective


@dataclass
class ActiveSet:
    """Rows `mask` [P] bool of X and their augmented Gram matrix [X_m, 1]^T [X_m, 1] [D+1, D+1] float64.

    The generalised Hessian depends only on which rows are active, not on the targets, so the state of one solve
    is a valid starting point for another on the same X (e.g. an SVM whose targets changed by a merge)."""

    mask: np.ndarray
    gram: np.ndarray


@dataclass
class BinarySVMResult:
    """Solution of one SVM: weights [C], bias, scores [P] on the training pixels, iterations, convergence, and the
    last active set with its Gram matrix (an `ActiveSet` that warm-starts the Hessian of a later solve on X)."""

    coef: np.ndarray
    intercept: float
    scores: np.ndarray
    n_iter: int
    converged: bool
    active: ActiveSet | None = None


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
    """[X_m, 1]^T [X_m, 1] over the rows in `mask`, float64 [D+1, D+1] (float32 products, like the features)."""
    d = X.shape[1]
    out = np.zeros((d + 1, d + 1))
    count = int(np.count_nonzero(mask))
    if count:
        rows = X[mask]
        out[:d, :d] = rows.T @ rows
        out[:d, d] = out[d, :d] = np.ones(count, dtype=np.float32) @ rows
        out[d, d] = count
    return out


def fit_binary_svm(X: np.ndarray, positive: np.ndarray, coef: np.ndarray, intercept: float, *, C: float,
                   max_iter: int = 50, tol: float = 1e-6, scores: np.ndarray | None = None,
                   gram: np.ndarray | None = None, active: ActiveSet | None = None) -> BinarySVMResult:
    """Exact minimiser of 1/2||w||^2 + (C/P) sum sqhinge for X [P, D] float32, `positive` [P] bool, warm-started at
    (coef, intercept); `scores` = X @ coef + intercept when the caller already has them. Centre X first (the
    unregularised bias absorbs any shift): features far from the origin make the bias and weights ill-conditioned.
    `gram` = augmented_gram(X) lets the Hessian be formed from whichever side of the active set is smaller;
    `active` (a previous result's) lets it be updated from an earlier active set."""
    results = fit_binary_svms(X, np.asarray(positive)[:, None], np.asarray(coef)[None], np.array([intercept]), C=C,
                              max_iter=max_iter, tol=tol, gram=gram,
                              scores=None if scores is None else np.asarray(scores)[:, None], active=[active])
    return results[0]


def fit_binary_svms(X: np.ndarray, positive: np.ndarray, coef: np.ndarray, intercept: np.ndarray, *, C: float,
                    max_iter: int = 50, tol: float = 1e-6, scores: np.ndarray | None = None,
                    gram: np.ndarray | None = None,
                    active: Sequence[ActiveSet | None] | None = None) -> list[BinarySVMResult]:
    """`fit_binary_svm` for B independent problems on the same X at once, in lockstep: `positive` [P, B] bool,
    `coef` [B, D], `intercept` [B], `scores` [P, B]. Each problem takes exactly the iterations it would take alone;
    the feature passes of all unconverged problems are shared (one matrix product instead of B vector products).

    The generalised Hessian I + 2c [X_A, 1]^T [X_A, 1] of each problem is kept per problem and updated with the rows
    that entered or left its active set (all pixels are active when the classifier starts from K-means centroids,
    whose scores all lie within the margin; then `gram` gives it for free; `active` carries each problem's active set
    over from an earlier solve on the same X, e.g. before a merge changed its targets). The gradient is always computed
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
    # [X_A, 1]^T [X_A, 1] per problem, for the active set A = active_prev[j]
    start = list(active) if active is not None else [None] * n_problems
    active_gram = [np.zeros((d + 1, d + 1)) if a is None else a.gram.copy() for a in start]
    active_prev: list[np.ndarray | None] = [None if a is None else a.mask for a in start]
    g0 = np.full(n_problems, np.nan)
    exact = np.zeros(n_problems, dtype=bool)  # whether the problem's last Newton step used the exact Hessian
    warm = np.array([a is not None for a in start])
    # a fixed random pixel subsample (pixels of neighbouring positions differ systematically: no strides)
    subsample = np.sort(np.random.default_rng(0).permutation(n)[:n // APPROX_HESSIAN_STRIDE])
    done: list[BinarySVMResult | None] = [None] * n_problems

    def target(j: int) -> np.ndarray:
        return np.where(positive[:, j], np.float32(1.0), np.float32(-1.0))

    def finish(j: int, n_iter: int, converged: bool, fresh: np.ndarray | None = None) -> None:
        state = None if active_prev[j] is None else ActiveSet(active_prev[j], active_gram[j])
        done[j] = BinarySVMResult(w[j].astype(np.float32), float(b[j]), s[:, j] if fresh is None else fresh, n_iter,
                                  converged, state)

    for it in range(1, max_iter + 1):
        todo = [j for j in range(n_problems) if done[j] is None]
        if not todo:
            break
        # gradients of every unfinished problem: only active pixels contribute, so a problem with few of them
        # gathers its rows; the others share one pass over X
        t = np.where(positive[:, todo], np.float32(1.0), np.float32(-1.0))  # [P, m]
        xi = 1.0 - t * s[:, todo]
        active = xi > 0
        weights = np.where(active, t * xi, np.float32(0.0))
        data_grad = np.empty((len(todo), d + 1))  # sum_i weight_i [x_i, 1]
        sparse = active.sum(axis=0) < n * SPARSE_GRADIENT
        if not sparse.all():
            dense = np.flatnonzero(~sparse)
            data_grad[dense, :d] = (X.T @ weights[:, dense]).T
            data_grad[dense, d] = weights[:, dense].sum(axis=0, dtype=np.float64)
        for col in np.flatnonzero(sparse):
            rows = np.flatnonzero(active[:, col])
            data_grad[col, :d] = weights[rows, col] @ X[rows]
            data_grad[col, d] = weights[rows, col].sum(dtype=np.float64)
        grad = -2 * c * data_grad
        grad[:, :d] += w[todo]
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
            changed = (act != prev) if prev is not None else None
            n_changed = int(changed.sum()) if changed is not None else n + 1  # no earlier set to update
            # rows an exact Hessian costs: the change since the last one, the active rows, or (with `gram`) the rest
            exact_cost = min(n_changed, n_active, n - n_active if gram is not None else n + 1)
            exact[j] = warm[j] or exact_cost <= max(APPROX_HESSIAN_ROWS, n // APPROX_HESSIAN_STRIDE)
            if not exact[j]:
                # a cold solve far from its optimum (the active set still moving a lot): a Newton direction from a
                # fixed pixel subsample's Hessian is as good a descent direction at a fraction of the cost; the exact
                # one returns once the active set settles, and only an exact step can end the solve. (Solves warm-
                # started with an active set converge in fewer exact steps than with subsampled ones.)
                sampled = np.zeros(n, dtype=bool)
                sampled[subsample[act[subsample]]] = True
                hessian = (n / len(subsample)) * _rows_gram(X, sampled)
            else:
                if n_changed == exact_cost:
                    active_gram[j] += _rows_gram(X, changed & act) - _rows_gram(X, changed & prev)
                elif n_active == exact_cost:
                    active_gram[j] = _rows_gram(X, act)
                else:
                    active_gram[j] = gram - _rows_gram(X, ~act)
                active_prev[j] = act.copy()
                hessian = active_gram[j]
            log.debug("svm %d iteration %d: |grad| %.3g (start %.3g), %d active, %d changed, %s Hessian", j, it, gmax,
                      g0[j], n_active, n_changed, "exact" if exact[j] else "subsampled")
            system = 2 * c * hessian
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
            f0 = _objective(w[j], tj, sj, c)
            slope = float(grad[col] @ step)  # -(Newton decrement)^2: f - f* on the current quadratic piece is -slope/2
            log.debug("svm %d iteration %d: objective %.9g, Newton decrement^2 %.3g", j, it, f0, -slope)
            if -slope <= DECREMENT_TOL * f0:
                # A decrease below what float32 scores resolve: the line search can no longer judge the step, and
                # Newton steps this small land at the optimum to working accuracy. Take it and stop.
                w[j] += step[:d]
                b[j] += step[d]
                s[:, j] = sj + uj
                finish(j, it, True)
                continue
            # Armijo backtracking (a full step is almost always accepted)
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
            if exact[j] and alpha == 1.0 and np.array_equal(1.0 - tj * s[:, j] > 0, active_prev[j]):
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
