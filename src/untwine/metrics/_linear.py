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

import numpy as np
from scipy.special import expit, log_expit
from threadpoolctl import threadpool_limits


def fit_logistic(
    features: np.ndarray,
    signs: np.ndarray,
    costs: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> np.ndarray:
    """Logistic regressions sharing a design matrix; return theta (P, F + 1), bias last.

    Args:
        features: (N, F) design matrix shared by all problems (a bias column is appended).
        signs: (N, P) labels in {-1, +1}, one column per problem.
        costs: (N, P) per-sample cost ``C * class_weight`` of each problem.
        tol: stop when the Newton decrement is below ``tol * (1 + objective)`` for every
            problem (a relative precision of the objective far below LIBLINEAR's 1e-4).
    """
    # The products here are small; multi-threaded BLAS only adds synchronisation, which on a
    # busy machine costs 10x (measured), so keep BLAS to one thread while solving.
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_logistic(features, signs, costs, max_iter=max_iter, tol=tol)


def _fit_logistic(
    features: np.ndarray,
    signs: np.ndarray,
    costs: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> np.ndarray:
    n = features.shape[0]
    x = np.hstack([features, np.ones((n, 1))])
    num_params = x.shape[1]
    num_problems = signs.shape[1]
    # Outer products of the rows, flattened: the Hessians of all problems are one product.
    outer = (x[:, :, None] * x[:, None, :]).reshape(n, num_params * num_params)
    eye = np.eye(num_params)
    theta = np.zeros((num_problems, num_params))
    margins = np.zeros((n, num_problems))

    def objective_of(theta: np.ndarray, margins: np.ndarray) -> np.ndarray:
        data_term = -np.einsum("np,np->p", costs, log_expit(margins))
        return 0.5 * np.sum(theta * theta, axis=1) + data_term

    objective = objective_of(theta, margins)
    active = np.ones(num_problems, dtype=bool)
    for _ in range(max_iter):
        prob_wrong = expit(-margins)
        grad = theta - (costs * prob_wrong * signs).T @ x
        curvature = costs * prob_wrong * (1.0 - prob_wrong)
        hess = (curvature.T @ outer).reshape(num_problems, num_params, num_params) + eye
        step = -np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        decrement = -np.sum(grad * step, axis=1)
        active &= decrement > tol * (1.0 + np.abs(objective))
        if not active.any():
            break
        step[~active] = 0.0
        step_margins = (x @ step.T) * signs

        def trial(a, theta=theta, step=step, margins=margins, step_margins=step_margins):
            return objective_of(theta + a[:, None] * step, margins + a * step_margins)

        alpha, objective = _backtrack(trial, objective, decrement, active)
        active &= alpha > 0
        theta = theta + alpha[:, None] * step
        margins = margins + alpha * step_margins
    return theta


def _backtrack(
    trial_objective, objective: np.ndarray, decrement: np.ndarray, active: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Armijo backtracking for a batch of Newton steps; alpha 0 where no step decreases f.

    A problem whose line search fails is at its optimum up to rounding, and is frozen.
    """
    alpha = np.ones(len(objective))
    alpha[~active] = 0.0
    pending = active.copy()
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
    other points of the same labelling (cost ``cost_neg[p]`` each).

    Args:
        x: (N,) the single feature.
        point_classes: (N, L) class id of every point under each of L labellings; ids are
            global (no id is shared between labellings), so a class id names its labelling.
        problem_class, cost_pos, cost_neg: (P,) the positive class and costs of each problem.

    With one feature the margin violators of each side form a prefix or a suffix of the
    points sorted by ``x``. Prefix sums of ``1, x, x^2`` over all points and over each class
    make the objective, gradient and (generalised) Hessian O(log N) per problem instead of
    O(N); the Hessian is piecewise constant, so Newton's method with backtracking stops once
    the violator sets settle.
    """
    n = len(x)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    powers = np.stack([np.ones(n), xs, xs * xs])  # (3, N) in sorted order
    all_sums = np.zeros((3, n + 1))
    np.cumsum(powers, axis=1, out=all_sums[:, 1:])
    # Every (class, sorted position) pair as one sortable key: the members of a class with
    # position < j are those with key < class * (n + 1) + j.
    classes_sorted = point_classes[order]  # (N, L)
    keys = (classes_sorted * (n + 1) + np.arange(n)[:, None]).T.ravel()
    by_key = np.argsort(keys, kind="stable")
    keys = keys[by_key]
    positions = np.tile(np.arange(n), point_classes.shape[1])[by_key]
    class_sums = np.zeros((3, len(keys) + 1))
    np.cumsum(powers[:, positions], axis=1, out=class_sums[:, 1:])
    base = problem_class * (n + 1)

    def range_sums(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sums (3, P) over sorted positions [lo, hi): of the problem's class, of all points."""
        k_lo = np.searchsorted(keys, base + lo)
        k_hi = np.searchsorted(keys, base + hi)
        return class_sums[:, k_hi] - class_sums[:, k_lo], all_sums[:, hi] - all_sums[:, lo]

    def violator_range(sign: float, w: np.ndarray, b: np.ndarray):
        """Sorted positions [lo, hi) of the points with sign * (w x + b) < 1."""
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (sign - b) / w
        slope = sign * w
        everyone = sign * b < 1.0  # the case w == 0: every point violates, or none
        lo = np.where(slope < 0, np.searchsorted(xs, t, side="right"), 0)
        hi = np.where(
            slope > 0, np.searchsorted(xs, t, side="left"), np.where((slope < 0) | everyone, n, 0)
        )
        return lo, hi

    def evaluate(theta: np.ndarray):
        w, b = theta[:, 0], theta[:, 1]
        members, _ = range_sums(*violator_range(1.0, w, b))
        pos = cost_pos * members
        members, everyone = range_sums(*violator_range(-1.0, w, b))
        neg = cost_neg * (everyone - members)
        u, v = 1.0 - b, 1.0 + b  # slack is u - w x for positives, v + w x for negatives
        f = 0.5 * (w * w + b * b)
        f = f + u * u * pos[0] - 2 * u * w * pos[1] + w * w * pos[2]
        f = f + v * v * neg[0] + 2 * v * w * neg[1] + w * w * neg[2]
        grad_w = w - 2 * u * pos[1] + 2 * w * pos[2] + 2 * v * neg[1] + 2 * w * neg[2]
        grad_b = b - 2 * u * pos[0] + 2 * w * pos[1] + 2 * v * neg[0] + 2 * w * neg[1]
        hess = (1 + 2 * (pos[2] + neg[2]), 2 * (pos[1] + neg[1]), 1 + 2 * (pos[0] + neg[0]))
        return f, np.stack([grad_w, grad_b], axis=1), hess

    theta = np.zeros((len(problem_class), 2))
    objective, grad, (h_ww, h_wb, h_bb) = evaluate(theta)
    active = np.ones(len(theta), dtype=bool)
    for _ in range(max_iter):
        det = h_ww * h_bb - h_wb * h_wb
        step = -np.stack(
            [
                (h_bb * grad[:, 0] - h_wb * grad[:, 1]) / det,
                (h_ww * grad[:, 1] - h_wb * grad[:, 0]) / det,
            ],
            axis=1,
        )
        decrement = -np.sum(grad * step, axis=1)
        active &= decrement > tol * (1.0 + np.abs(objective))
        if not active.any():
            break
        step[~active] = 0.0

        def trial(a, theta=theta, step=step):
            return evaluate(theta + a[:, None] * step)[0]

        alpha, objective = _backtrack(trial, objective, decrement, active)
        active &= alpha > 0
        theta = theta + alpha[:, None] * step
        objective, grad, (h_ww, h_wb, h_bb) = evaluate(theta)
    return theta


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
