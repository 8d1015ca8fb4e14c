"""Running networks in reduced precision: autocast around each network, float32 out of it.

:func:`run_networks_in` makes every *network* of a module (each direct child module that
has parameters: a model's ``encoder`` and ``decoder``, FactorVAE's ``discriminator``, any
auxiliary net an objective or a later family adds) run under ``torch.autocast`` with the
given dtype, and hands its outputs back as float32. It replaces each network's ``forward``
on the instance by one that runs the class's ``forward`` inside ``with torch.autocast(...)``,
so a family or an objective needs no code of its own: whatever calls ``self.encoder(x)`` gets
the reduced-precision matmuls and a float32 result. A real ``with`` block (rather than a pair
of forward hooks entering and leaving autocast by hand) is left when the network raises and
is what ``torch.compile`` can trace, so a compiled evaluation keeps the precision setting.

What runs in which precision, and why:

- *Inside a network* autocast runs the matrix products (convolutions, transposed
  convolutions, linear layers) in bfloat16 with float32 accumulation (oneDNN on CPU:
  AMX/AVX512-BF16 tiles; tensor cores on CUDA); weights and their gradients stay float32
  (autocast casts a copy per call), so Adam updates float32 master weights. ReLU and the
  other elementwise ops follow their input's dtype.
- *Outside the networks* everything stays float32, because the networks' outputs are cast
  back before anyone reads them: the reparameterised sample, the log-densities
  (log N(z; mu, sigma), the Bernoulli/Gaussian log-likelihoods summed over 4096 pixels, where
  bfloat16's 8-bit mantissa would lose whole nats), the closed-form KL (exp(logvar) of a
  bfloat16 logvar is off by ~0.4 %), the total-correlation estimators (logsumexp over the
  batch, the discriminator's logit difference), the batch means and the loss. Reductions in
  bfloat16 would round each partial sum to 3 significant digits.

Networks whose parameters must not be rounded at all (a codebook compared by distance, say)
are named in the owner's ``full_precision_children`` (a tuple of attribute names) and left
alone. ``channels_last`` additionally stores the 4-D weights of convolutional networks and
feeds them 4-D inputs in NHWC layout, which oneDNN's bfloat16 convolutions prefer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

#: the torch dtype each reduced precision runs networks in (fp32 runs them untouched)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def networks(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The direct children of ``module`` that have parameters, except its
    ``full_precision_children``: the networks :func:`run_networks_in` wraps."""
    keep = set(getattr(module, "full_precision_children", ()))
    return [
        (name, child)
        for name, child in module.named_children()
        if name not in keep and any(True for _ in child.parameters())
    ]


def run_networks_in(
    module: nn.Module, precision: str, device_type: str, channels_last: bool = False
) -> None:
    """Run every network of ``module`` (see :func:`networks`) in ``precision`` (``"fp32"``,
    ``"bf16"`` or ``"fp16"``) on ``device_type``; calling it again replaces the setting."""
    module._precision_setting = (precision, device_type, channels_last)  # type: ignore[assignment]
    dtype = DTYPES.get(precision)
    for _, net in networks(module):
        net.__dict__.pop("forward", None)  # the class's own forward again
        conv = any(p.ndim == 4 for p in net.parameters())
        nhwc = channels_last and conv
        if conv:  # NCHW again when a previous setting stored the weights NHWC
            net.to(memory_format=torch.channels_last if nhwc else torch.contiguous_format)
        if dtype is None and not nhwc:
            continue
        # a partial of a module-level function (not a closure) pickles, and deep-copies with
        # the copy of ``net`` that owns it
        net.forward = partial(_forward_in, net, device_type, dtype, nhwc)  # type: ignore[method-assign]


def precision_of(module: nn.Module) -> tuple[str, str | None, bool]:
    """``(precision, device_type, channels_last)`` as :func:`run_networks_in` last set it on
    ``module``; ``("fp32", None, False)`` for a module it never touched."""
    return getattr(module, "_precision_setting", ("fp32", None, False))


@contextmanager
def networks_in(
    module: nn.Module, precision: str, device_type: str, channels_last: bool = False
) -> Iterator[nn.Module]:
    """:func:`run_networks_in` for the duration of a ``with`` block; the module's previous
    setting is restored afterwards (also when the block raises)."""
    before = precision_of(module)
    run_networks_in(module, precision, device_type, channels_last)
    try:
        yield module
    finally:
        previous, previous_device, previous_nhwc = before
        run_networks_in(module, previous, previous_device or device_type, previous_nhwc)


def _forward_in(
    net: nn.Module,
    device_type: str,
    dtype: torch.dtype | None,
    channels_last: bool,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """``net``'s class forward with 4-D inputs in NHWC (``channels_last``) and under autocast
    to ``dtype`` (None: full precision); floating outputs come back float32."""
    if channels_last:
        args = tuple(_to_channels_last(a) for a in args)
    forward = type(net).forward
    if dtype is None:
        return forward(net, *args, **kwargs)
    with torch.autocast(device_type, dtype=dtype):
        out = forward(net, *args, **kwargs)
    return _to_float32(out)


def _to_channels_last(value: Any) -> Any:
    if isinstance(value, Tensor) and value.ndim == 4:
        return value.contiguous(memory_format=torch.channels_last)
    return value


def _to_float32(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
        return type(value)(*(_to_float32(v) for v in value))
    if isinstance(value, tuple | list):
        return type(value)(_to_float32(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_float32(v) for k, v in value.items()}
    return value
