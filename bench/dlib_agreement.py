"""untwine's label-free scores, IRS and UDR against disentanglement_lib's own functions, on the
same codes.

Give it a folder of runs of one setting (``studies/udr_selection``) and a checkout of
disentanglement_lib (its metric functions need numpy, scipy, scikit-learn, gin-config,
absl-py and six; none of them runs TensorFlow, so where TensorFlow is absent ``gin.tf`` is
aliased to ``gin``). One draw of ``--points`` images is encoded once by every run; both
libraries then read exactly these codes: disentanglement_lib through a ground-truth-data
stand-in that replays the draw in order (its observations are the draw's indices, and the
representation function looks their codes up), so no score differs by sampling.

    python bench/dlib_agreement.py studies/udr_selection --dlib ~/src/disentanglement_lib

Prints, per run, the Gaussian total and Wasserstein correlations, the codes' mutual
information and IRS from each library, and then each run's UDR (Spearman and Lasso) from
each; ``|diff|`` is the largest absolute difference in each block.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
from pathlib import Path

import numpy as np

from untwine.metrics.downstream import downstream_task
from untwine.metrics.irs import irs
from untwine.metrics.udr import gaussian_kl_per_dim, udr
from untwine.metrics.unsupervised import unsupervised_scores
from untwine.rundir import find_run_dirs
from untwine.train import load_run


class Replay:
    """disentanglement_lib's ground-truth-data interface over one fixed draw: factors and
    observations (the draw's indices) come out in order, whatever the random state."""

    def __init__(self, factors: np.ndarray) -> None:
        self.factors = factors
        self.num_factors = factors.shape[1]
        self.factors_num_values = [int(v) + 1 for v in factors.max(axis=0)]
        self.next = 0

    def _take(self, n: int) -> np.ndarray:
        index = np.arange(self.next, self.next + n) % len(self.factors)
        self.next += n
        return index

    def sample(self, num, random_state):
        index = self._take(num)
        return self.factors[index], index

    def sample_factors(self, num, random_state):
        return self.sample(num, random_state)[0]

    def sample_observations(self, num, random_state):
        return self._take(num)


def import_dlib(path: Path):
    sys.path.insert(0, str(path))
    import gin

    if importlib.util.find_spec("tensorflow") is None:
        sys.modules["gin.tf"] = gin  # the metric functions only use gin's configurables
    from disentanglement_lib.evaluation.metrics import downstream_task as dlib_downstream
    from disentanglement_lib.evaluation.metrics import irs as dlib_irs
    from disentanglement_lib.evaluation.metrics import unsupervised_metrics
    from disentanglement_lib.evaluation.udr.metrics import udr as dlib_udr

    # the study's discretiser (Locatello et al. 2019): 20-bin histograms
    gin.parse_config(
        [
            "discretizer.discretizer_fn = @histogram_discretizer",
            "discretizer.num_bins = 20",
        ]
    )
    return unsupervised_metrics, dlib_irs, dlib_udr, dlib_downstream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--dlib", type=Path, required=True, help="disentanglement_lib checkout")
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--downstream", type=int, nargs="*", default=[100, 1000], help="training sizes"
    )
    args = parser.parse_args()
    unsupervised_metrics, dlib_irs, dlib_udr, dlib_downstream = import_dlib(args.dlib)

    paths = find_run_dirs(args.folder)
    runs = [load_run(p) for p in paths]
    data = runs[0].dataset()
    rng = np.random.default_rng(args.seed)
    factors = data.sample_factors(args.points, rng)
    images = data.sample_observations_from_factors(factors, rng)
    codes, kls = [], []
    for run in runs:
        mu, logvar = run.encode(images)
        codes.append(np.asarray(mu, np.float64))
        kls.append(gaussian_kl_per_dim(mu, logvar))
    print(f"{len(runs)} runs, {args.points} points ({platform.processor() or 'cpu'})")

    rs = np.random.RandomState(args.seed)
    header = "run                        metric                                  untwine    dlib"
    print(header)
    worst: dict[str, float] = {}
    for path, z in zip(paths, codes, strict=True):
        ours = unsupervised_scores(z)
        theirs = unsupervised_metrics.unsupervised_metrics(
            Replay(factors), lambda index, z=z: z[index], rs, num_train=args.points
        )
        ours["irs"] = irs(z, factors)["irs"]
        theirs["irs"] = dlib_irs.compute_irs(
            Replay(factors),
            lambda index, z=z: z[index],
            rs,
            num_train=args.points,
            batch_size=100,
        )["IRS"]
        for key in (
            "gaussian_total_correlation",
            "gaussian_wasserstein_correlation",
            "gaussian_wasserstein_correlation_norm",
            "mutual_info_score",
            "irs",
        ):
            a, b = float(ours[key]), float(theirs[key])
            worst[key] = max(worst.get(key, 0.0), abs(a - b))
            print(f"{path.name:<26} {key:<38} {a:9.5f} {b:9.5f}")
    for key, value in worst.items():
        print(f"|diff| {key}: {value:.2e}")

    if args.downstream:
        compare_downstream(dlib_downstream, codes[0], factors, paths[0], args.downstream)

    for correlation in ("spearman", "lasso"):
        ours = udr(codes, kls, correlation=correlation, seed=args.seed)["udr"]

        def representation(index, m):
            return codes[m][index], kls[m]

        fns = [lambda index, m=m: representation(index, m) for m in range(len(codes))]
        theirs = dlib_udr.compute_udr_sklearn(
            Replay(factors),
            fns,
            np.random.RandomState(args.seed),
            batch_size=100,
            num_data_points=args.points,
            correlation_matrix=correlation,
            include_raw_correlations=False,
        )["model_scores"]
        diff = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
        print(f"\nUDR ({correlation}): untwine / disentanglement_lib per run, |diff| {diff:.1e}")
        for path, a, b in zip(paths, ours, theirs, strict=True):
            print(f"{path.name:<26} {a:.4f}  {b:.4f}")


def compare_downstream(dlib_downstream, z, factors, path, sizes, num_test=1000) -> None:
    """Per-factor test accuracy of both libraries' classifiers, trained on the same points:
    for each size the replay hands disentanglement_lib the next ``size`` points to train on
    and the ``num_test`` after them to test on; untwine is given the same two slices."""
    import gin

    need = sum(sizes) + num_test * len(sizes)
    if need > len(factors):
        raise SystemExit(f"--points must be at least {need} for these downstream sizes")
    pairs = (("logistic_cv", "logistic_regression_cv"), ("gbt", "gradient_boosting_classifier"))
    for model, predictor in pairs:
        gin.parse_config([f"predictor.predictor_fn = @{predictor}"])
        theirs = dlib_downstream.compute_downstream_task(
            Replay(factors), lambda index: z[index], np.random.RandomState(0),
            num_train=sizes, num_test=num_test, batch_size=100,
        )  # fmt: skip
        start, worst = 0, 0.0
        for n in sizes:
            train, test = slice(start, start + n), slice(start + n, start + n + num_test)
            start += n + num_test
            ours = downstream_task(
                z[train], factors[train], z[test], factors[test],
                train_sizes=[n], models=[model], efficiency_sizes=[n, n],
            )["per_factor"][model][str(n)]["test_accuracy"]  # fmt: skip
            dlib = [theirs[f"{n}:test_accuracy_factor_{k}"] for k in range(len(ours))]
            worst = max(worst, *(abs(a - b) for a, b in zip(ours, dlib, strict=True)))
            print(f"{path.name} {model} n={n}: untwine {np.round(ours, 3).tolist()}")
            print(f"{'':{len(path.name)}} {model} n={n}: dlib    {np.round(dlib, 3).tolist()}")
        print(f"|diff| downstream {model}: {worst:.2e} (per factor, test accuracy)")


if __name__ == "__main__":
    main()
