"""Modularity and explicitness (Ridgeway & Mozer 2018): closed forms and the reference."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from untwine.metrics import MetricInputError, modularity_explicitness
from untwine.metrics.modularity import modularity_from_mutual_info


def test_identity_is_near_one(split):
    result = modularity_explicitness(*split)
    assert result["modularity"] > 0.99
    # A single standardised code separates the extreme classes perfectly but the middle ones
    # only through the normalisation across one-vs-rest scores: high, not perfect.
    assert result["explicitness_test"] > 0.9


def test_constant_is_zero(split):
    train_codes, train_factors, test_codes, test_factors = split
    result = modularity_explicitness(
        np.zeros((len(train_codes), 2)), train_factors, np.zeros((len(test_codes), 2)), test_factors
    )
    assert result["modularity"] == 0.0
    assert result["explicitness_test"] == pytest.approx(0.5)


def test_modularity_closed_form():
    """A code sharing its information equally between two of three factors scores 1 - 1/2."""
    mi = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert modularity_from_mutual_info(mi).tolist() == pytest.approx([1.0, 0.5, 0.0])


def test_explicitness_matches_liblinear_one_vs_rest():
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, s, 3000) for s in (2, 5)], axis=1)
    codes = factors @ rng.normal(size=(2, 3)) + rng.normal(size=(3000, 3))
    train, test = slice(0, 2000), slice(2000, None)
    result = modularity_explicitness(codes[train], factors[train], codes[test], factors[test])
    mean, std = codes[train].mean(axis=0), codes[train].std(axis=0)
    expected = []
    for k in range(2):
        clf = OneVsRestClassifier(LogisticRegression(solver="liblinear", tol=1e-10))
        clf.fit((codes[train] - mean) / std, factors[train, k])
        proba = clf.predict_proba((codes[test] - mean) / std)
        labels = MultiLabelBinarizer().fit_transform(factors[test, k : k + 1])
        expected.append(roc_auc_score(labels, proba))
    assert result["explicitness_test_per_factor"] == pytest.approx(expected, abs=1e-6)


def test_bad_inputs(split):
    train_codes, train_factors, test_codes, test_factors = split
    with pytest.raises(MetricInputError, match="at least 2 factors"):
        modularity_explicitness(train_codes, train_factors[:, :1], test_codes, test_factors[:, :1])
    with pytest.raises(MetricInputError, match="train_codes contains NaN"):
        modularity_explicitness(train_codes + np.inf, train_factors, test_codes, test_factors)
