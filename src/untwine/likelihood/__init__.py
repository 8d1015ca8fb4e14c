"""How good a model is as a density model: log p(x), the IWAE bounds and bits per dimension.

``likelihood.estimate(run, k=5000, split="test")`` returns, for the held-out images::

    {"log_px": L_5000 (nats, mean over examples), "stderr": its standard error over examples,
     "mc_stderr": the Monte Carlo standard error of that mean (delta method, see mc_variance),
     "elbo": L_1, "bounds": {"1": L_1, "5": L_5, "50": L_50, ..., "5000": L_5000},
     "bits_per_dim": ..., "k": 5000, "n": examples, "active_units": ..., "kl": ...,
     "mutual_information": I(x; z), "kl_per_dim": [...],
     "per_image": {"index": [...], "log_px": [...], "elbo": [...]}}

``per_image`` keeps each image's L_k and L_1 with its index in the split, so that two runs
estimated on the same images compare image by image: :func:`paired_difference` gives the
mean difference with its paired standard error, far smaller than either run's ``stderr``
(which is mostly the spread of the images, shared by both).

The collapse diagnostics beside log p(x): active units (Burda et al. 2015), the mean KL and
I(x; z) under the aggregate posterior of the evaluated images (the index-code MI of Chen et
al. 2018; at most log n). A collapsed posterior has all three near 0.

One code path serves every model with a density: it uses only the posterior's samples and
log-density, the prior's log-density and the decoder's log-likelihood
(see :mod:`untwine.models.density`).

The modules, one job each (this package re-exports their public API):

- :mod:`~untwine.likelihood.importance`: the log-weights, L_k bounds and their Monte Carlo
  variance; compiled log p(x|z);
- :mod:`~untwine.likelihood.estimator`: log p(x) of a model (:func:`estimate_model`) and of
  a run (:func:`estimate`), the collapse diagnostics, a VQ run's code bound;
- :mod:`~untwine.likelihood.splits`: which images an estimate evaluates (:func:`examples`);
- :mod:`~untwine.likelihood.saved`: estimate-and-save over a run or a folder of runs
  (:func:`estimate_path`), the saved estimates read back (:func:`saved_path`);
- :mod:`~untwine.likelihood.compare`: two estimates of the same images, image by image
  (:func:`paired_difference`);
- :mod:`~untwine.likelihood.table`: estimates as a text table (:func:`format_table`);
- :mod:`~untwine.likelihood.bits`: bits/dim and dequantisation;
- :mod:`~untwine.likelihood.exact`: models with exact likelihoods, for checking all this.
"""

from untwine.likelihood.bits import bits_per_dim, uniform_dequantise
from untwine.likelihood.compare import compare_to, paired_difference
from untwine.likelihood.estimator import (
    ACTIVE_THRESHOLD,
    DEFAULT_PRECISION,
    LIKELIHOOD_PRECISIONS,
    active_units,
    estimate,
    estimate_code_bound,
    estimate_model,
)
from untwine.likelihood.importance import bound, log_mean_exp, log_weights, mc_variance
from untwine.likelihood.saved import (
    RESULT_FILE,
    estimate_and_save,
    estimate_path,
    read_saved,
    run_dirs,
    saved_path,
)
from untwine.likelihood.splits import SUBSET_SEED, examples, resolve_split
from untwine.likelihood.table import format_table

__all__ = [
    "ACTIVE_THRESHOLD",
    "DEFAULT_PRECISION",
    "LIKELIHOOD_PRECISIONS",
    "RESULT_FILE",
    "SUBSET_SEED",
    "active_units",
    "bits_per_dim",
    "bound",
    "compare_to",
    "estimate",
    "estimate_and_save",
    "estimate_code_bound",
    "estimate_model",
    "estimate_path",
    "examples",
    "format_table",
    "log_mean_exp",
    "log_weights",
    "mc_variance",
    "paired_difference",
    "read_saved",
    "resolve_split",
    "run_dirs",
    "saved_path",
    "uniform_dequantise",
]
