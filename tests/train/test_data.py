"""Images to floats, one conversion everywhere: the batches, Run's inputs and the metrics."""

from __future__ import annotations

import numpy as np
import torch

from untwine.data import ArrayData
from untwine.data.base import to_float
from untwine.train.data import BatchStream


def grey_levels(n: int = 40) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(n, 1, 4, 4), dtype=np.uint8)


def test_uint8_is_scaled_by_the_float32_reciprocal_in_numpy_and_torch_alike():
    u8 = grey_levels()
    a = to_float(u8, 255)
    b = to_float(torch.from_numpy(u8), 255)
    assert a.dtype == np.float32 and b.dtype == torch.float32
    assert np.array_equal(a, u8.astype(np.float32) * np.float32(1 / 255))
    assert np.array_equal(a, b.numpy())
    assert a.min() >= 0 and a.max() <= 1 and (a == 1).any()


def test_binary_values_and_floats_pass_through_as_they_are():
    bits = grey_levels() % 2
    assert np.array_equal(to_float(bits, 1), bits.astype(np.float32))
    x = np.random.default_rng(1).random((3, 1, 4, 4), dtype=np.float32)
    assert np.array_equal(to_float(x, 255), x)  # already in [0, 1]: not divided again
    t = torch.from_numpy(x)
    assert torch.equal(to_float(t, 255), t)
    assert torch.equal(t, torch.from_numpy(x))  # the caller's tensor is untouched


def test_training_batches_are_the_datasets_images_converted_once():
    u8 = grey_levels(40)
    data = ArrayData("grey", ("a",), (40,), (1, 4, 4), u8)
    stream = BatchStream(data, per_step=8, seed=3, device=torch.device("cpu"))
    for step in (0, 4, 7):  # step 4 and 7 cross epoch boundaries
        expected = data.to_float(data.images(stream.indices(step)))
        assert np.array_equal(stream.batch(step).numpy(), expected)


def test_a_later_phase_carries_the_order_on_where_the_earlier_one_stopped():
    """A phase that draws twice the images a step, switched to at step 5, continues the run's
    one sequence of shuffled epochs: its first batch is the next two of the earlier phase's,
    and its epochs count the images drawn, not the step times its own batch."""
    data = ArrayData("grey", ("a",), (40,), (1, 4, 4), grey_levels(40))
    cpu = torch.device("cpu")
    first = BatchStream(data, per_step=8, seed=3, device=cpu)
    later = BatchStream(data, 16, seed=3, device=cpu, first_step=5, start=first.position(5))
    for step in (5, 6, 7):  # step 7 crosses an epoch boundary of the later stream
        expected = np.concatenate([first.indices(2 * step - 5), first.indices(2 * step - 4)])
        assert np.array_equal(later.indices(step), expected)
    assert later.epoch(5) == first.epoch(5) == 1.0 and later.epoch(7) == (40 + 2 * 16) / 40
