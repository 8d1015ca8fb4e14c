"""Disentanglement metrics: pure array functions plus a driver over datasets and runs.

Array-level functions take numpy arrays: codes (N, D) float, factors (N, K) integer indices
into each factor's value grid. Dataset-level functions take a ground-truth dataset
(:class:`untwine.data.GroundTruthData`) and a representation function (float32 images
(N, C, H, W) -> codes (N, D), deterministic: the posterior mean) or, for the full-dataset
estimators, an encoder function (images -> ``(mu, logvar)``).

Return convention: every metric returns a ``dict[str, float | list]`` that ``json.dumps``
accepts. The headline number is a float under the metric's own name (``"mig"``, ``"sap"``,
``"modularity"``, ``"factor_vae_score"``, ``"beta_vae_score"``, ``"mig_full"``, ``"irs"``); DCI,
the ELBO decomposition, the unsupervised scores and the downstream task have several headline
numbers (``disentanglement`` / ``completeness`` / ``informativeness_*``; ``index_code_mi`` /
``total_correlation`` / ``dimwise_kl`` / ``kl``; ``gaussian_total_correlation`` ...;
``logistic_sample_efficiency`` ...).
Other entries are diagnostics (per-factor scores, MI and importance matrices as nested lists
indexed [code][factor]). Information is in nats; scores are dimensionless.

========================  =====================================  ===========================
registered name           function                               paper
========================  =====================================  ===========================
``mig``                   :func:`mig`                            Chen et al. 2018 (discrete)
``sap``                   :func:`sap`                            Kumar et al. 2018
``dci``                   :func:`dci`, :func:`dci_from_importance`  Eastwood & Williams 2018
``modularity``            :func:`modularity_explicitness`        Ridgeway & Mozer 2018
``factor_vae_score``      :func:`factor_vae_score`               Kim & Mnih 2018
``beta_vae_score``        :func:`beta_vae_score`                 Higgins et al. 2017
``mig_full``              :func:`mig_full`                       Chen et al. 2018 (full data)
``elbo``                  :func:`elbo_decomposition`             Chen et al. 2018
``unsupervised``          :func:`unsupervised_scores`            Locatello et al. 2019
``irs``                   :func:`irs`                            Suter et al. 2019
``downstream``            :func:`downstream_task`                Locatello et al. 2019
(not registered)          :func:`udr`, :func:`udr_of_runs`       Duan et al. 2020
========================  =====================================  ===========================

``unsupervised`` needs no factor labels (Gaussian total and Wasserstein correlation, mean
mutual information between codes) and is computed by default; so is ``elbo``. On images
without labels (a folder with no factor table) these two are the default and every other
metric is refused. ``downstream`` reports test accuracies per classifier and training size
and each classifier's sample efficiency; ``irs`` and ``downstream`` are not in
:data:`BUILTIN_METRICS`: ask for them by name. UDR scores several runs of one setting against
each other, so it is no per-run metric: :func:`udr` takes their codes, :func:`udr_of_runs`
their folders, and :func:`untwine.metrics.selection.select` (``untwine select``) ranks the
runs of a folder by it and names the best.

:func:`evaluate` runs any of them by name on a dataset and records the settings, seed and
untwine version; :func:`evaluate_run` does so for a trained run and writes ``metrics.json``.
Settings are named for what they count: ``num_points`` / ``num_test_points`` (sampled points
of MIG, SAP, DCI, modularity; posteriors of ``mig_full`` and ``elbo``), ``num_votes`` /
``num_eval_votes`` / ``vote_batch_size`` (the FactorVAE and beta-VAE scores). A metric of
your own is an adapter over :class:`untwine.metrics.context.EvalContext`, registered by name:
:mod:`untwine.metrics.context` documents the interface, with an example. Functions that
sample take ``seed``: an int or a ``numpy.random.Generator``.
Bad input raises :class:`MetricInputError` (an :class:`untwine.UntwineError`).
"""

from untwine.metrics._validate import MetricInputError
from untwine.metrics.beta_vae import beta_vae_score
from untwine.metrics.context import EvalContext
from untwine.metrics.dci import dci, dci_from_importance
from untwine.metrics.downstream import downstream_task
from untwine.metrics.elbo import elbo_decomposition
from untwine.metrics.evaluate import (
    BUILTIN_METRICS,
    evaluate,
    evaluate_folder,
    evaluate_run,
    metric_settings,
    resolve_settings,
)
from untwine.metrics.factor_vae import factor_vae_score
from untwine.metrics.irs import irs
from untwine.metrics.mig import mig
from untwine.metrics.mig_full import mig_full, mig_full_from_posteriors
from untwine.metrics.modularity import modularity_explicitness
from untwine.metrics.sap import sap
from untwine.metrics.udr import udr, udr_of_runs
from untwine.metrics.unsupervised import unsupervised_scores

__all__ = [
    "BUILTIN_METRICS",
    "EvalContext",
    "MetricInputError",
    "beta_vae_score",
    "dci",
    "dci_from_importance",
    "downstream_task",
    "elbo_decomposition",
    "evaluate",
    "evaluate_folder",
    "evaluate_run",
    "factor_vae_score",
    "irs",
    "metric_settings",
    "mig",
    "mig_full",
    "mig_full_from_posteriors",
    "modularity_explicitness",
    "resolve_settings",
    "sap",
    "udr",
    "udr_of_runs",
    "unsupervised_scores",
]
