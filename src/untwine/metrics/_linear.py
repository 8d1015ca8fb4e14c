"""Many small L2-regularised linear classifiers solved at once by Newton's method.

SAP fits one linear SVM per (code, factor) pair and explicitness one logistic regression per
(factor, class); the reference calls LIBLINEAR once per problem. Each of these problems is a
strictly convex objective in a handful of parameters,

    minimise_theta  0.5 * ||theta||^2 + sum_i c_i * loss(y_i * <theta, [x_i, 1]>),

with ``y_i`` in {-1, +1}, so a batched Newton iteration solves all of them together to machine
precision in a few steps. The bias is the last coordinate of ``theta`` and is penalised like
the weights, exactly as LIBLINEAR does with ``intercept_scaling=1`` (the setting of
scikit-learn's ``LinearSVC`` and ``LogisticRegression(solver="liblinear")``). LIBLINEAR stops at
a tolerance of 1e-4; these solvers go to the optimum, so predictions can differ from the
reference only for points lying within that tolerance of a decision boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from functools import partial

import numpy as np
import torch
from threadpoolctl import threadpool_limits


def log_sigmoid(m: np.ndarray) -> np.ndarray:
    """log(1 / (1 + exp(-m))); within 1e-15 of ``scipy.special.log_expit``, twice as fast."""
    return np.minimum(m, 0.0) - np.log1p(np.exp(-np.abs(m)))


def sigmoid_of_negative(m: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(m)); twice as fast as ``scipy.special.expit(-m)`` (exp overflows to 0)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(m))


#: Fits on at least this many rows start from the optimum on every WARM_START_STRIDE-th row.
WARM_START_MIN_ROWS = 2000
WARM_START_STRIDE = 8
#: Problems are shared between threads only when each thread gets at least this many.
MIN_PROBLEMS_PER_THREAD = 8


def solver_threads() -> int:
    """Threads the solvers may use: torch's intra-op count (a study worker's share of cores)."""
    return torch.get_num_threads()


def fit_logistic(
    features: np.ndarray,
    signs: np.ndarray,
    costs: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> np.ndarray:
    """Logistic regressions sharing a design matrix; return theta (P, F + 1), bias last.

    Problem ``p`` is scikit-learn's ``LogisticRegression(solver="liblinear")`` with per-sample
    costs: ``min 0.5 ||theta||^2 + sum_i costs[i, p] log(1 + exp(-signs[i, p] <theta, [x_i, 1]>))``
    (tests/metrics/test_linear.py holds the two to the same optimum).

    Args:
        features: (N, F) design matrix shared by all problems (a bias column is appended).
        signs: (N, P) labels in {-1, +1}, one column per problem.
        costs: (N, P) per-sample cost ``C * class_weight`` of each problem.
        tol: stop when the Newton decrement is below ``tol * (1 + objective)`` for every
            problem (a relative precision of the objective far below LIBLINEAR's 1e-4), after
            taking that last Newton step, which squares the remaining error.
    """
    # The products here are small; multi-threaded BLAS only adds synchronisation, which on a
    # busy machine costs 10x (measured), so keep BLAS to one thread and instead give each
    # core its own share of the problems (numpy releases the GIL in the array work).
    with threadpool_limits(limits=1, user_api="blas"):
        design = _Design.of(features)
        fit_share = partial(_fit_warm, design, signs, costs, max_iter=max_iter, tol=tol)
        workers = min(solver_threads(), signs.shape[1] // MIN_PROBLEMS_PER_THREAD)
        if workers < 2:
            return fit_share(np.arange(signs.shape[1]))
        shares = np.array_split(np.arange(signs.shape[1]), workers)
        with ThreadPoolExecutor(workers) as pool:
            return np.concatenate(list(pool.map(fit_share, shares)))


@dataclass(frozen=True)
class _Design:
    """The design matrix with its bias column, and the products every Hessian is made of.

    The Hessians of all problems are one product of the curvatures with the products
    ``x_a x_b`` of every row's coordinates, kept for ``a <= b`` only (the Hessian is
    symmetric). Made once per fit and shared by the threads and the warm start.
    """

    x: np.ndarray
    upper: tuple[np.ndarray, np.ndarray]
    pair_products: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray) -> _Design:
        x = np.hstack([features, np.ones((len(features), 1))])
        upper = np.triu_indices(x.shape[1])
        return cls(x, upper, x[:, upper[0]] * x[:, upper[1]])

    def rows(self, rows: slice) -> _Design:
        return _Design(self.x[rows], self.upper, self.pair_products[rows])

    def hessians(self, curvature: np.ndarray) -> np.ndarray:
        """``I + X^T diag(curvature[p]) X`` for every problem p: (P, F + 1, F + 1)."""
        packed = curvature @ self.pair_products
        num_params = self.x.shape[1]
        hess = np.empty((len(curvature), num_params, num_params))
        hess[:, self.upper[0], self.upper[1]] = packed
        hess[:, self.upper[1], self.upper[0]] = packed
        hess += np.eye(num_params)
        return hess


def _fit_warm(
    design: _Design,
    signs: np.ndarray,
    costs: np.ndarray,
    columns: np.ndarray,
    *,
    max_iter: int,
    tol: float,
) -> np.ndarray:
    """:func:`_fit_logistic` of the problems ``columns``, started from the optimum on a
    subsample of the rows."""
    signs, costs = signs[:, columns], costs[:, columns]
    start = None
    n = len(design.x)
    if n >= WARM_START_MIN_ROWS:
        # Newton's method needs ~6 damped steps to get from 0 to where it converges
        # quadratically; take them on every 8th row (costs scaled to the same total), then
        # finish on all rows. The problems are strictly convex, so the optimum, and the
        # stopping test on all rows, are unchanged; only the work to get there shrinks.
        rows = slice(None, None, WARM_START_STRIDE)
        scale = n / len(range(n)[rows])
        start = _fit_logistic(
            design.rows(rows), signs[rows], costs[rows] * scale, max_iter=max_iter, tol=1e-6
        )
    return _fit_logistic(design, signs, costs, max_iter=max_iter, tol=tol, start=start)


@dataclass
class _LiveProblems:
    """The logistic problems still iterating, one row each (problem-major, so that dropping
    the converged ones copies contiguous rows: gathering columns of (N, P) arrays cost more
    than the Newton step)."""

    index: np.ndarray  # (P,) column of each problem in the caller's arrays
    theta: np.ndarray  # (P, F + 1)
    sign: np.ndarray  # (P, N)
    cost: np.ndarray  # (P, N)
    margin: np.ndarray  # (P, N): sign * <theta, x>
    objective: np.ndarray  # (P,)

    def keep(self, rows: np.ndarray) -> _LiveProblems:
        return _LiveProblems(*(getattr(self, f.name)[rows] for f in fields(self)))


def _fit_logistic(
    design: _Design,
    signs: np.ndarray,
    costs: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Damped Newton on every problem at once; problems leave the batch as they converge."""
    x = design.x
    result = np.zeros((signs.shape[1], x.shape[1])) if start is None else start.copy()
    theta = result.copy()
    sign = np.ascontiguousarray(signs.T, dtype=np.float64)
    cost = np.ascontiguousarray(costs.T, dtype=np.float64)
    margin = (theta @ x.T) * sign
    live = _LiveProblems(
        np.arange(signs.shape[1]), theta, sign, cost, margin,
        _logistic_objective(theta, margin, cost),
    )  # fmt: skip
    for _ in range(max_iter):
        step, decrement = _newton_step(design, live)
        going = decrement > tol * (1.0 + np.abs(live.objective))
        if not going.all():
            # Converged: the last Newton step, already computed, squares the remaining error.
            result[live.index[~going]] = live.theta[~going] + step[~going]
            live, step, decrement = live.keep(going), step[going], decrement[going]
            if not len(live.index):
                return result
        step_margins = (step @ x.T) * live.sign
        trial = partial(_logistic_trial, live, step, step_margins)
        alpha, objective = _backtrack(trial, live.objective, decrement)
        live.theta = live.theta + alpha[:, None] * step
        live.margin = live.margin + alpha[:, None] * step_margins
        live.objective = objective
        stalled = alpha == 0  # no step decreases the objective: optimal up to rounding
        if stalled.any():
            result[live.index[stalled]] = live.theta[stalled]
            live = live.keep(~stalled)
            if not len(live.index):
                return result
    result[live.index] = live.theta
    return result


def _newton_step(design: _Design, live: _LiveProblems) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps (P, F + 1) of the live problems and their decrements ``-<grad, step>``."""
    prob_wrong = sigmoid_of_negative(live.margin)
    weight = live.cost * prob_wrong
    grad = live.theta - (weight * live.sign) @ design.x
    hess = design.hessians(weight * (1.0 - prob_wrong))
    step = -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
    return step, -np.sum(grad * step, axis=1)


def _logistic_trial(
    live: _LiveProblems, step: np.ndarray, step_margins: np.ndarray, alpha: np.ndarray
) -> np.ndarray:
    """The objectives at ``theta + alpha * step``, one ``alpha`` per problem."""
    a = alpha[:, None]
    return _logistic_objective(live.theta + a * step, live.margin + a * step_margins, live.cost)


def _logistic_objective(theta: np.ndarray, margin: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """0.5 ||theta||^2 - sum_i c_i log sigmoid(margin_i), one value per problem (row)."""
    return 0.5 * np.sum(theta * theta, axis=1) - np.einsum("pn,pn->p", cost, log_sigmoid(margin))


def _backtrack(
    trial_objective: Callable[[np.ndarray], np.ndarray],
    objective: np.ndarray,
    decrement: np.ndarray,
    active: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Armijo backtracking for a batch of Newton steps; alpha 0 where no step decreases f.

    ``active`` (default: every problem) marks the problems still iterating; the others get
    alpha 0. A problem whose line search fails is at its optimum up to rounding, and is frozen.
    """
    pending = np.ones(len(objective), dtype=bool) if active is None else active.copy()
    alpha = np.where(pending, 1.0, 0.0)
    new_objective = objective.copy()
    for _ in range(50):
        trial = trial_objective(alpha)
        ok = pending & (trial <= objective - 1e-4 * alpha * decrement)
        new_objective[ok] = trial[ok]
        pending &= ~ok
        if not pending.any():
            break
        alpha[pending] *= 0.5
    alpha[pending] = 0.0
    return alpha, new_objective


def fit_svm_1d(
    x: np.ndarray,
    point_classes: np.ndarray,
    problem_class: np.ndarray,
    cost_pos: np.ndarray,
    cost_neg: np.ndarray,
    *,
    max_iter: int = 200,
    tol: float = 1e-12,
) -> np.ndarray:
    """Squared-hinge linear SVMs on one feature; return (P, 2) rows ``(w, b)``.

    Problem ``p`` solves LinearSVC's primal
    ``min 0.5 (w^2 + b^2) + sum_i c_i max(0, 1 - y_i (w x_i + b))^2`` where the positives are
    the points of class ``problem_class[p]`` (cost ``cost_pos[p]`` each) and the negatives all
    other points of the same labelling (cost ``cost_neg[p]`` each); tests/metrics/
    test_linear.py holds it to scikit-learn's ``LinearSVC``.

    Args:
        x: (N,) the single feature.
        point_classes: (N, L) class id of every point under each of L labellings; ids are
            global (no id is shared between labellings), so a class id names its labelling.
        problem_class, cost_pos, cost_neg: (P,) the positive class and costs of each problem.

    With one feature the margin violators of each side form a prefix or a suffix of the
    points sorted by ``x``, so the objective, gradient and (generalised) Hessian are sums over
    a range of sorted positions: O(log N) per problem with prefix sums
    (:class:`_SortedFeature`). The Hessian is piecewise constant, so Newton's method with
    backtracking stops once the violator sets settle.
    """
    feature = _SortedFeature.of(x, point_classes)
    problems = _SvmProblems(problem_class * (feature.n + 1), cost_pos, cost_neg)
    theta = np.zeros((len(problem_class), 2))
    objective, grad, hess = _svm_objective(feature, problems, theta)
    active = np.ones(len(theta), dtype=bool)
    for _ in range(max_iter):
        step = _solve_2x2(hess, grad)
        decrement = -np.sum(grad * step, axis=1)
        active &= decrement > tol * (1.0 + np.abs(objective))
        if not active.any():
            break
        step[~active] = 0.0
        trial = partial(_svm_trial, feature, problems, theta, step)
        alpha, objective = _backtrack(trial, objective, decrement, active)
        active &= alpha > 0
        theta = theta + alpha[:, None] * step
        objective, grad, hess = _svm_objective(feature, problems, theta)
    return theta


@dataclass(frozen=True)
class _SortedFeature:
    """One feature sorted, with prefix sums of ``1, x, x^2`` over all points and per class.

    Every (class, sorted position) pair is one sortable key ``class * (n + 1) + position``:
    the members of a class at sorted positions below ``j`` are the keys below
    ``class * (n + 1) + j``, so a class's sums over a range of positions are two binary
    searches into ``class_sums``.
    """

    xs: np.ndarray  # (N,) sorted feature
    all_sums: np.ndarray  # (3, N + 1) prefix sums over sorted positions
    keys: np.ndarray  # sorted (class, position) keys
    class_sums: np.ndarray  # (3, len(keys) + 1) prefix sums in key order

    @property
    def n(self) -> int:
        return len(self.xs)

    @classmethod
    def of(cls, x: np.ndarray, point_classes: np.ndarray) -> _SortedFeature:
        n = len(x)
        order = np.argsort(x, kind="stable")
        xs = x[order]
        powers = np.stack([np.ones(n), xs, xs * xs])  # (3, N) in sorted order
        all_sums = np.zeros((3, n + 1))
        np.cumsum(powers, axis=1, out=all_sums[:, 1:])
        keys = (point_classes[order] * (n + 1) + np.arange(n)[:, None]).T.ravel()
        by_key = np.argsort(keys, kind="stable")
        positions = np.tile(np.arange(n), point_classes.shape[1])[by_key]
        class_sums = np.zeros((3, len(keys) + 1))
        np.cumsum(powers[:, positions], axis=1, out=class_sums[:, 1:])
        return cls(xs, all_sums, keys[by_key], class_sums)

    def range_sums(
        self, base: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sums (3, P) over sorted positions [lo, hi): of the class keyed ``base``, of all."""
        k_lo = np.searchsorted(self.keys, base + lo)
        k_hi = np.searchsorted(self.keys, base + hi)
        in_class = self.class_sums[:, k_hi] - self.class_sums[:, k_lo]
        return in_class, self.all_sums[:, hi] - self.all_sums[:, lo]

    def violators(self, sign: float, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        """Sorted positions [lo, hi) of the points with sign * (w x + b) < 1."""
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (sign - b) / w
        slope = sign * w
        everyone = sign * b < 1.0  # the case w == 0: every point violates, or none
        lo = np.where(slope < 0, np.searchsorted(self.xs, t, side="right"), 0)
        hi = np.where(
            slope > 0,
            np.searchsorted(self.xs, t, side="left"),
            np.where((slope < 0) | everyone, self.n, 0),
        )
        return lo, hi


@dataclass(frozen=True)
class _SvmProblems:
    base: np.ndarray  # (P,) key offset of each problem's positive class
    cost_pos: np.ndarray  # (P,)
    cost_neg: np.ndarray  # (P,)


def _svm_objective(
    feature: _SortedFeature, problems: _SvmProblems, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Objective (P,), gradient (P, 2) and Hessian entries ``(h_ww, h_wb, h_bb)`` at theta."""
    w, b = theta[:, 0], theta[:, 1]
    members, _ = feature.range_sums(problems.base, *feature.violators(1.0, w, b))
    pos = problems.cost_pos * members  # cost-weighted sums of 1, x, x^2 over violating positives
    members, everyone = feature.range_sums(problems.base, *feature.violators(-1.0, w, b))
    neg = problems.cost_neg * (everyone - members)  # and over violating negatives
    u, v = 1.0 - b, 1.0 + b  # slack is u - w x for positives, v + w x for negatives
    f = 0.5 * (w * w + b * b)
    f = f + u * u * pos[0] - 2 * u * w * pos[1] + w * w * pos[2]
    f = f + v * v * neg[0] + 2 * v * w * neg[1] + w * w * neg[2]
    grad_w = w - 2 * u * pos[1] + 2 * w * pos[2] + 2 * v * neg[1] + 2 * w * neg[2]
    grad_b = b - 2 * u * pos[0] + 2 * w * pos[1] + 2 * v * neg[0] + 2 * w * neg[1]
    hess = (1 + 2 * (pos[2] + neg[2]), 2 * (pos[1] + neg[1]), 1 + 2 * (pos[0] + neg[0]))
    return f, np.stack([grad_w, grad_b], axis=1), hess


def _svm_trial(
    feature: _SortedFeature,
    problems: _SvmProblems,
    theta: np.ndarray,
    step: np.ndarray,
    alpha: np.ndarray,
) -> np.ndarray:
    """The objectives at ``theta + alpha * step``, one ``alpha`` per problem."""
    return _svm_objective(feature, problems, theta + alpha[:, None] * step)[0]


def _solve_2x2(hess: tuple[np.ndarray, np.ndarray, np.ndarray], grad: np.ndarray) -> np.ndarray:
    """Newton steps ``-H^-1 grad`` (P, 2) for symmetric 2 x 2 Hessians ``(h_ww, h_wb, h_bb)``."""
    h_ww, h_wb, h_bb = hess
    det = h_ww * h_bb - h_wb * h_wb
    return -np.stack(
        [
            (h_bb * grad[:, 0] - h_wb * grad[:, 1]) / det,
            (h_ww * grad[:, 1] - h_wb * grad[:, 0]) / det,
        ],
        axis=1,
    )


def ovr_problems(
    labels: np.ndarray, classes: np.ndarray, class_weight: np.ndarray | None, c: float
) -> tuple[np.ndarray, np.ndarray]:
    """Signs and costs (N, P) of LIBLINEAR's one-vs-rest decomposition of one label vector.

    Two classes give one problem (``classes[1]`` positive, each sample costing
    ``c * weight[its class]``). More classes give one problem per class: its members are
    positive with cost ``c * weight[class]`` and all others negative with cost ``c``, which is
    how LIBLINEAR applies class weights one-vs-rest (the weight multiplies the positive side).
    """
    n = len(labels)
    if class_weight is None:
        class_weight = np.ones(len(classes))
    if len(classes) == 2:
        positive = labels == classes[1]
        signs = np.where(positive, 1.0, -1.0)[:, None]
        costs = (c * np.where(positive, class_weight[1], class_weight[0]))[:, None]
        return signs, costs
    member = labels[:, None] == classes[None, :]
    signs = np.where(member, 1.0, -1.0)
    costs = np.where(member, c * class_weight[None, :], c)
    return signs, np.broadcast_to(costs, (n, len(classes))).copy()


def balanced_class_weight(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """scikit-learn's ``class_weight="balanced"``: n_samples / (n_classes * count)."""
    counts = np.array([(labels == k).sum() for k in classes], dtype=np.float64)
    return len(labels) / (len(classes) * counts)


def decision_to_labels(decision: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Predicted class per row from one-vs-rest decisions (N, P), as scikit-learn predicts."""
    if len(classes) == 2:
        return np.where(decision[:, 0] > 0, classes[1], classes[0])
    return classes[np.argmax(decision, axis=1)]
