"""Seconds per disentanglement metric: untwine vs the same definitions written plainly.

The plain versions below follow the reference library (disentanglement_lib) loop by loop: one
``mutual_info_score`` per (code, factor), one ``LinearSVC`` per (code, factor), one
``LogisticRegression`` per factor, one representation call per vote of 64 images, Chen et al.'s
log-sum-exp over the whole dataset ten samples at a time. Both run in the same process on the
same inputs, alternating for ``--rounds`` rounds (medians reported), at the default sample
counts, on a 10-D representation of dSprites:

* if ``untwine.data.load("dsprites")`` works, its images and a deterministic image-moment
  "encoder" (centroid, area, second moments, plus four fixed random projections);
* otherwise a synthetic stand-in with dSprites' factor sizes (3, 6, 40, 32, 32) whose
  observations are the factors and whose representation is a fixed noisy linear map of them.

The vote-based scores are timed again with ``TenPixels``, a representation that costs almost
nothing, to show what is left of their time when the representation is free.

The full-dataset estimators (ELBO decomposition, Chen et al.'s MIG) are timed in full for
untwine; their plain versions would take hours, so they are timed on a few samples and
extrapolated linearly (the cost is exactly linear in the number of samples), as labelled.

Usage::

    .venv/bin/python bench/metrics_speed.py            # the table (about 14 minutes)
    .venv/bin/python bench/metrics_speed.py --gbt      # also DCI with the reference GBT
    .venv/bin/python bench/metrics_speed.py --quick    # small sample counts, smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import sklearn.metrics
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC

from untwine.data.base import GroundTruthData
from untwine.metrics import (
    beta_vae_score,
    dci,
    elbo_decomposition,
    evaluate,
    factor_vae_score,
    mig,
    mig_full_from_posteriors,
    modularity_explicitness,
    sap,
)

DSPRITES_SIZES = (3, 6, 40, 32, 32)
ELBO_SAMPLES = 10_000  # the default of elbo_decomposition, also under --quick


# --------------------------------------------------------------------------- data
class SyntheticDSprites(GroundTruthData):
    """dSprites' factor grid; an observation is its factor indices, shape (5, 1, 1)."""

    name = "synthetic-dsprites"
    factor_names = ("shape", "scale", "orientation", "posX", "posY")
    factor_sizes = DSPRITES_SIZES
    observation_shape = (5, 1, 1)
    max_value = 1

    def images(self, indices) -> np.ndarray:
        factors = self.factors_of(indices)
        return factors.astype(np.uint8).reshape(len(factors), 5, 1, 1)


class NoisyLinear:
    """Codes = fixed linear map of the normalised factors + fixed per-cell noise (10-D)."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.weights = np.zeros((5, 10))
        self.weights[np.arange(5), np.arange(5)] = 1.0
        self.weights += 0.15 * rng.normal(size=(5, 10))
        self.noise = (0.05 * rng.normal(size=(int(np.prod(DSPRITES_SIZES)), 10))).astype(np.float32)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        factors = images.reshape(len(images), 5).astype(np.int64)
        cells = np.ravel_multi_index(tuple(factors.T), DSPRITES_SIZES)
        u = (factors + 0.5) / np.asarray(DSPRITES_SIZES)
        return (u @ self.weights).astype(np.float32) + self.noise[cells]


class ImageMoments:
    """A deterministic 10-D 'encoder' of 64x64 binary sprites: moments + random projections."""

    def __init__(self, seed: int = 0) -> None:
        grid = (np.arange(64, dtype=np.float32) + 0.5) / 64.0
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        basis = [np.ones_like(xs), xs, ys, xs * xs, ys * ys, xs * ys]
        rng = np.random.default_rng(seed)
        basis += [rng.normal(size=(64, 64)).astype(np.float32) / 64.0 for _ in range(4)]
        self.basis = np.stack([b.ravel() for b in basis], axis=1)  # (4096, 10)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        m = images.reshape(len(images), -1).astype(np.float32) @ self.basis
        area = np.maximum(m[:, :1], 1e-3)
        mean = m[:, 1:3] / area
        second = m[:, 3:6] / area - np.stack(
            [mean[:, 0] ** 2, mean[:, 1] ** 2, mean[:, 0] * mean[:, 1]], axis=1
        )
        return np.hstack([np.sqrt(area), mean, 10.0 * second, m[:, 6:]]).astype(np.float32)


class TenPixels:
    """A near-free 10-D 'representation': a fixed linear map of ten pixels of each image.

    It reads 40 bytes of each image, so the vote-based scores' time is what is left when the
    representation costs nothing: drawing factors, making images, and the votes themselves.
    """

    def __init__(self, seed: int = 0) -> None:
        self.weights = np.random.default_rng(seed).normal(size=(10, 10)).astype(np.float32)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        flat = images.reshape(len(images), -1)
        return flat[:, flat.shape[1] // 2 : flat.shape[1] // 2 + 10] @ self.weights


def load_data() -> tuple[GroundTruthData, object, str]:
    try:
        import untwine.data

        data = untwine.data.load("dsprites")
        return data, ImageMoments(), "untwine.data.load('dsprites') + image-moment encoder"
    except Exception as exc:  # the renderer may not exist yet; say so and fall back
        note = f"synthetic stand-in (dsprites unavailable: {type(exc).__name__}: {exc})"
        return SyntheticDSprites(), NoisyLinear(), note


# --------------------------------------------------------------------------- plain versions
def plain_discretize(mus: np.ndarray, num_bins: int = 20) -> np.ndarray:
    out = np.zeros_like(mus)
    for i in range(mus.shape[0]):
        out[i, :] = np.digitize(mus[i, :], np.histogram(mus[i, :], num_bins)[1][:-1])
    return out


def plain_mutual_info(mus: np.ndarray, ys: np.ndarray) -> np.ndarray:
    m = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            m[i, j] = sklearn.metrics.mutual_info_score(ys[j, :], mus[i, :])
    return m


def plain_mig(codes: np.ndarray, factors: np.ndarray) -> float:
    mus, ys = codes.T, factors.T
    m = plain_mutual_info(plain_discretize(mus), ys)
    entropy = np.array([sklearn.metrics.mutual_info_score(y, y) for y in ys])
    sorted_m = np.sort(m, axis=0)[::-1]
    return float(np.mean((sorted_m[0, :] - sorted_m[1, :]) / entropy))


def plain_sap(train_codes, train_factors, test_codes, test_factors) -> float:
    scores = np.zeros([train_codes.shape[1], train_factors.shape[1]])
    for i in range(train_codes.shape[1]):
        for j in range(train_factors.shape[1]):
            classifier = LinearSVC(C=0.01, class_weight="balanced")
            classifier.fit(train_codes[:, i : i + 1], train_factors[:, j])
            pred = classifier.predict(test_codes[:, i : i + 1])
            scores[i, j] = np.mean(pred == test_factors[:, j])
    sorted_scores = np.sort(scores, axis=0)
    return float(np.mean(sorted_scores[-1, :] - sorted_scores[-2, :]))


def plain_dci_gbt(train_codes, train_factors, test_codes, test_factors) -> dict:
    importance = np.zeros((train_codes.shape[1], train_factors.shape[1]))
    for k in range(train_factors.shape[1]):
        model = GradientBoostingClassifier().fit(train_codes, train_factors[:, k])
        importance[:, k] = np.abs(model.feature_importances_)
    return importance


def plain_modularity(train_codes, train_factors, test_codes, test_factors) -> tuple:
    mi = plain_mutual_info(plain_discretize(train_codes.T), train_factors.T)
    squared = np.square(mi)
    top = np.max(squared, axis=1)
    modularity = 1.0 - (np.sum(squared, axis=1) - top) / (top * (squared.shape[1] - 1.0))
    modularity[top == 0.0] = 0.0
    mean, std = train_codes.mean(axis=0), train_codes.std(axis=0)
    x_train, x_test = (train_codes - mean) / std, (test_codes - mean) / std
    auc_test = []
    for k in range(train_factors.shape[1]):
        # LogisticRegression() of the 2019 reference = LIBLINEAR one-vs-rest, C = 1.
        clf = OneVsRestClassifier(LogisticRegression(solver="liblinear"))
        clf.fit(x_train, train_factors[:, k])
        labels = MultiLabelBinarizer().fit_transform(test_factors[:, k : k + 1])
        auc_test.append(sklearn.metrics.roc_auc_score(labels, clf.predict_proba(x_test)))
    return float(np.mean(modularity)), float(np.mean(auc_test))


def plain_factor_vae(data, representation_fn, seed=0, batch_size=64, num_votes=10_000,
                     num_eval_votes=5_000, num_variance_estimate=10_000) -> float:  # fmt: skip
    rng = np.random.default_rng(seed)
    observations = data.sample_observations_from_factors(
        data.sample_factors(num_variance_estimate, rng), rng
    )
    global_var = np.var(representation_fn(observations), axis=0, ddof=1)
    active = np.sqrt(global_var) >= 0.05

    def votes(num):
        table = np.zeros((data.num_factors, len(global_var)), dtype=np.int64)
        for _ in range(num):
            k = rng.integers(data.num_factors)
            factors = data.sample_factors(batch_size, rng)
            factors[:, k] = factors[0, k]
            codes = representation_fn(data.sample_observations_from_factors(factors, rng))
            local = np.var(codes, axis=0, ddof=1)
            table[k, np.argmin(local[active] / global_var[active])] += 1
        return table

    train = votes(num_votes)
    classifier = np.argmax(train, axis=0)
    evaluation = votes(num_eval_votes)
    return float(evaluation[classifier, np.arange(len(global_var))].sum() / evaluation.sum())


def plain_beta_vae(data, representation_fn, seed=0, batch_size=64, num_votes=10_000,
                   num_eval_votes=5_000) -> float:  # fmt: skip
    rng = np.random.default_rng(seed)

    def examples(num):
        points, labels = [], np.zeros(num, dtype=np.int64)
        for i in range(num):
            labels[i] = rng.integers(data.num_factors)
            f1 = data.sample_factors(batch_size, rng)
            f2 = data.sample_factors(batch_size, rng)
            f2[:, labels[i]] = f1[:, labels[i]]
            r1 = representation_fn(data.sample_observations_from_factors(f1, rng))
            r2 = representation_fn(data.sample_observations_from_factors(f2, rng))
            points.append(np.mean(np.abs(r1 - r2), axis=0))
        return np.array(points), labels

    x, y = examples(num_votes)
    model = OneVsRestClassifier(LogisticRegression(solver="liblinear")).fit(x, y)
    x, y = examples(num_eval_votes)
    return float(np.mean(model.predict(x) == y))


def plain_log_q(z, mu, logvar, batch=10):
    """Chen et al.'s estimate_entropies loop: 10 samples at a time against all N, float64."""
    import torch

    mu_t, lv_t = torch.as_tensor(mu), torch.as_tensor(logvar)
    dims, joint = [], []
    for s0 in range(0, len(z), batch):
        zb = torch.as_tensor(z[s0 : s0 + batch])
        log_density = -0.5 * (
            math.log(2 * math.pi)
            + lv_t[:, None]
            + (zb[None] - mu_t[:, None]) ** 2 / lv_t.exp()[:, None]
        )  # (N, batch, D)
        dims.append(torch.logsumexp(log_density, dim=0) - math.log(len(mu)))
        joint.append(torch.logsumexp(log_density.sum(dim=2), dim=0) - math.log(len(mu)))
    return torch.cat(dims).numpy(), torch.cat(joint).numpy()


# --------------------------------------------------------------------------- timing
class Counting:
    """Wraps a representation function; counts the images it encodes and the time it takes."""

    def __init__(self, fn) -> None:
        self.fn, self.images, self.seconds = fn, 0, 0.0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.images += len(images)
        start = time.perf_counter()
        out = self.fn(images)
        self.seconds += time.perf_counter() - start
        return out


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LIBLINEAR convergence warnings in the plain loops
        out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def paired(rounds: int, ours, plain):
    """Alternate ``ours()`` and ``plain()`` for ``rounds`` rounds; median seconds, last results."""
    t_u, t_p = [], []
    for _ in range(rounds):
        seconds, r_u = timed(ours)
        t_u.append(seconds)
        seconds, r_p = timed(plain)
        t_p.append(seconds)
    return float(np.median(t_u)), r_u, float(np.median(t_p)), r_p


def posteriors_of(data, representation_fn) -> tuple[np.ndarray, np.ndarray]:
    """Fake posteriors of the whole grid: standardised codes as means, fixed log-variances."""
    from untwine.metrics.context import CodeSource

    source = CodeSource(data, representation_fn)
    sizes = data.factor_sizes
    all_cells = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)
    codes = source(all_cells).astype(np.float64)
    mu = (codes - codes.mean(axis=0)) / codes.std(axis=0)
    # Six informative dimensions with narrow posteriors, four close to the prior.
    logvar = np.where(np.arange(10) < 6, math.log(0.1**2), math.log(0.9**2)) + 0.2 * np.tanh(mu)
    mu[:, 6:] *= 0.3
    return mu, np.broadcast_to(logvar, mu.shape).copy()


def elbo_child(path: str) -> None:
    """Run in a subprocess so that its peak RSS is the decomposition's own."""
    arrays = np.load(path)
    seconds, result = timed(elbo_decomposition, arrays["mu"], arrays["logvar"], ELBO_SAMPLES, 0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "result": result}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gbt", action="store_true", help="also time DCI with the reference GBT")
    parser.add_argument("--quick", action="store_true", help="small sample counts (smoke test)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds per metric (medians reported)"
    )
    parser.add_argument("--elbo-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.elbo_child:
        elbo_child(args.elbo_child)
        return

    scale = 10 if args.quick else 1
    n_train, n_test = 10_000 // scale, 5_000 // scale
    votes = {"num_votes": 10_000 // scale, "num_eval_votes": 5_000 // scale}
    data, representation_fn, source_note = load_data()
    print(f"data: {source_note}; {len(data)} images, factor sizes {data.factor_sizes}")
    print(
        f"threads: torch default, {os.cpu_count()} CPU(s) visible; timings are wall seconds, "
        f"medians of {args.rounds} alternating rounds (ELBO and MIG-full: one run)\n"
    )

    rng = np.random.default_rng(0)
    train_f, test_f = data.sample_factors(n_train, rng), data.sample_factors(n_test, rng)
    encode_s, (train_c, test_c) = timed(
        lambda: [
            representation_fn(data.sample_observations_from_factors(f)) for f in (train_f, test_f)
        ]
    )
    split = (train_c, train_f, test_c, test_f)
    rows = []  # (metric, untwine s, plain s, note)

    rounds = args.rounds
    t_u, r_u, t_p, r_p = paired(
        rounds, lambda: mig(train_c, train_f), lambda: plain_mig(train_c, train_f)
    )
    rows.append(("mig", t_u, t_p, f"|diff| {abs(r_u['mig'] - r_p):.1e}"))

    t_u, r_u, t_p, r_p = paired(rounds, lambda: sap(*split), lambda: plain_sap(*split))
    rows.append(("sap", t_u, t_p, f"{r_u['sap']:.4f} vs {r_p:.4f} (LIBLINEAR tol 1e-4)"))

    t_u, r_u, t_p, (mod_p, expl_p) = paired(
        rounds, lambda: modularity_explicitness(*split), lambda: plain_modularity(*split)
    )
    rows.append(
        (
            "modularity",
            t_u,
            t_p,
            f"|diff| mod {abs(r_u['modularity'] - mod_p):.1e}, "
            f"expl {abs(r_u['explicitness_test'] - expl_p):.1e}",
        )
    )

    t_fast, r_fast, _, _ = paired(rounds, lambda: dci(*split, model="fast"), lambda: None)
    if args.gbt:
        t_gbt, r_gbt = timed(dci, *split, model="gbt")
        t_p, imp_p = timed(plain_dci_gbt, *split)
        rows.append(("dci (gbt)", t_gbt, t_p, "same model; excluded from the 5x target"))
        dev = {
            key: r_fast[key] - r_gbt[key]
            for key in ("disentanglement", "completeness", "informativeness_train",
                        "informativeness_test")
        }  # fmt: skip
        rows.append(("dci (fast)", t_fast, t_p, "vs plain gbt; deviation below"))
    else:
        rows.append(("dci (fast)", t_fast, float("nan"), "plain gbt not run (pass --gbt)"))

    # The vote-based scores spend most of their time in the representation function; count
    # the images each side encodes and the seconds spent inside it (the 'encoder' lines).
    encoder_rows, free_rows = [], []
    for name, ours, plain in (
        ("factor_vae_score", factor_vae_score, plain_factor_vae),
        ("beta_vae_score", beta_vae_score, plain_beta_vae),
    ):
        counters = []

        def run(score, counters=counters):
            counters.append(Counting(representation_fn))
            return score(data, counters[-1], **votes)

        t_u, r_u, t_p, r_p = paired(rounds, lambda o=ours: run(o), lambda p=plain: run(p))
        fn_u, fn_p = counters[-2:]  # the last round's counts and seconds
        rows.append((name, t_u, t_p, f"{r_u[name]:.4f} vs {r_p:.4f} (own draws)"))
        encoder_rows.append((name, t_u, t_p, fn_u, fn_p))
        # The same scores with a representation that costs (almost) nothing per image.
        free = TenPixels()
        t_fu, _, t_fp, _ = paired(
            rounds,
            lambda o=ours, f=free: o(data, f, **votes),
            lambda p=plain, f=free: p(data, f, **votes),
        )
        free_rows.append((name, t_fu, t_fp))

    # Full-dataset estimators on fake posteriors of every cell.
    mu, logvar = posteriors_of(data, representation_fn)
    num_samples = 10_000 // scale
    few = 20
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "posteriors.npz")
        np.savez(path, mu=mu, logvar=logvar)
        child = subprocess.run(
            [sys.executable, __file__, "--elbo-child", path], capture_output=True, text=True,
            check=True,
        )  # fmt: skip
    elbo = json.loads(child.stdout)
    z_few = mu[:few] + np.exp(0.5 * logvar[:few]) * np.random.default_rng(1).normal(size=(few, 10))
    t_few, _ = timed(plain_log_q, z_few, mu, logvar)
    rows.append(
        (
            f"elbo (N={len(mu)})",
            elbo["seconds"],
            t_few * ELBO_SAMPLES / few,
            f"plain extrapolated from {few} samples; untwine peak RSS {elbo['peak_mb']:.0f} MB",
        )
    )

    sizes = data.factor_sizes
    factors = np.stack(np.unravel_index(np.arange(len(mu)), sizes), axis=1)
    mig_samples = num_samples // 10  # Chen et al. use 10,000; 1,000 keeps the bench short
    t_u, r_u = timed(mig_full_from_posteriors, mu, logvar, factors, sizes, mig_samples)
    # Plain cost: one marginal and one conditional pass per factor, each mig_samples samples
    # against the N points in total (Chen et al.'s loop): (1 + K) x the ELBO loop per sample.
    rows.append(
        (f"mig_full (N={len(mu)})", t_u, t_few * mig_samples / few * (1 + len(sizes)),
         f"{mig_samples} samples per entropy; plain extrapolated from the ELBO loop timing")
    )  # fmt: skip

    print(f"{'metric':20s} {'untwine s':>10s} {'plain s':>10s} {'speed-up':>9s}  note")
    for name, t_u, t_p, note in rows:
        ratio = t_p / t_u if t_p == t_p else float("nan")
        print(f"{name:20s} {t_u:10.2f} {t_p:10.2f} {ratio:8.1f}x  {note}")
    print(f"\n(encoding the {n_train}+{n_test} shared points: {encode_s:.2f} s, in neither column)")
    print(
        "\nvote-based scores, inside vs outside the representation function (same runs):\n"
        f"{'metric':20s} {'images':>17s} {'in fn s':>15s} {'outside fn s':>15s} "
        f"{'outside x':>9s} {'ceiling':>8s}"
    )
    for name, t_u, t_p, fn_u, fn_p in encoder_rows:
        out_u, out_p = t_u - fn_u.seconds, t_p - fn_p.seconds
        # Untwine encodes each distinct grid cell once; with the representation's cost per
        # image the same on both sides, no implementation of the same draws can beat this.
        ceiling = fn_p.images / fn_u.images
        images = f"{fn_u.images:8d}/{fn_p.images:<8d}"
        inside = f"{fn_u.seconds:7.2f}/{fn_p.seconds:<7.2f}"
        print(
            f"{name:20s} {images} {inside} {out_u:7.2f}/{out_p:<7.2f} "
            f"{out_p / out_u:8.1f}x {ceiling:7.2f}x"
        )
    print(
        "(untwine/plain; 'ceiling' = images the plain loop encodes / distinct cells untwine "
        "encodes: the speed-up bound when the representation's cost dominates)"
    )
    print("\nthe same scores, near-free representation (TenPixels: reads 10 pixels an image):")
    for name, t_fu, t_fp in free_rows:
        print(f"{name:20s} {t_fu:10.2f} {t_fp:10.2f} {t_fp / t_fu:8.1f}x")
    print("(what is left is making the images, per image on both sides, and the draws and votes)")

    names = ["mig", "sap", "dci", "modularity", "factor_vae_score", "beta_vae_score"]
    t_suite, _ = timed(evaluate, representation_fn, data, names, dci_model="fast",
                       num_points=n_train, num_test_points=n_test)  # fmt: skip
    print(f"whole suite via evaluate() with fast DCI ({', '.join(names)}): {t_suite:.1f} s")
    print(
        f"elbo_decomposition of {len(mu)} points, {ELBO_SAMPLES} samples: {elbo['seconds']:.1f} s, "
        f"peak RSS {elbo['peak_mb']:.0f} MB (subprocess, includes Python and torch)"
    )
    r = elbo["result"]
    print(
        f"  MI {r['index_code_mi']:.3f} + TC {r['total_correlation']:.3f} + dimwise "
        f"{r['dimwise_kl']:.3f} = {r['kl_estimate']:.3f} nats (closed-form KL {r['kl']:.3f})"
    )
    if args.gbt:
        print(
            "\nDCI fast - gbt on this representation: "
            + ", ".join(f"{k} {v:+.3f}" for k, v in dev.items())
        )


if __name__ == "__main__":
    main()
