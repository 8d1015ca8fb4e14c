"""Precision: which names exist, what each means on a device, and networks run in it.

Every precision decision of untwine is made here; a caller keeps only which names it
accepts (a CLI's choices, ``Run``'s ``"run"``):

- :data:`PRECISIONS` are the names a setting may hold; :func:`check_precision` refuses any
  other with a one-line error naming the accepted ones.
- :func:`resolve_precision` turns ``auto`` into ``bf16`` or ``fp32`` for a device (from what
  its hardware has, :func:`bf16_units`) and refuses ``fp16``; training, the likelihood and
  every other estimate resolve through it, so ``auto`` means the same thing everywhere.
- :func:`recorded_precision` says what a saved ``config.yaml``'s value means (``auto`` there
  predates the setting: float32).
- :func:`prefers_channels_last` says which memory layout a precision's convolutions run in.
- :func:`run_networks_in` / :func:`networks_in` run a module's networks in a precision (below).

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
feeds them 4-D inputs in NHWC layout, which oneDNN's bfloat16 convolutions prefer; by default
it follows the precision (:func:`prefers_channels_last`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn

from untwine.errors import ConfigError

# -- which precision ------------------------------------------------------------------------
#: Every precision a setting may name: ``auto`` (resolved per device, :func:`resolve_precision`)
#: and the three a network can run in. A caller accepts a subset (:func:`check_precision`).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: float32: what exactness checks, reference digests and the metrics' reference codes use
FULL_PRECISION = "fp32"
#: the torch dtype each reduced precision runs networks in (fp32 runs them untouched)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: Where bfloat16 matrix products run on dedicated units of a CPU (torch.cpu.get_capabilities):
#: Intel AMX tiles or AVX512-BF16 dot products. Without them oneDNN emulates bfloat16 and
#: the step is slower than in float32.
CPU_BF16_UNITS = ("amx_bf16", "avx512_bf16")


def check_precision(requested: str, accepted: Sequence[str] = PRECISIONS) -> None:
    """A one-line ConfigError unless ``requested`` is one of ``accepted``."""
    if requested not in accepted:
        raise ConfigError(f"precision: expected one of {', '.join(accepted)} (got {requested!r})")


def bf16_units(device: torch.device) -> bool:
    """Whether ``device`` has hardware for bfloat16 matrix products (torch's own queries)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        caps = torch.cpu.get_capabilities()
        return any(caps.get(flag, False) for flag in CPU_BF16_UNITS)
    return False


def resolve_precision(
    requested: str, device: torch.device, accepted: Sequence[str] = PRECISIONS
) -> str:
    """What networks on ``device`` run in when ``requested`` (one of ``accepted``, else a
    one-line ConfigError): ``auto`` is ``bf16`` where the device has bfloat16 units
    (:func:`bf16_units`) and ``fp32`` elsewhere; an explicit value is kept.

    ``bf16`` is allowed without the units (a run trained in bf16 elsewhere keeps its numerics
    here, only slower). ``fp16`` is refused: float16 training needs loss scaling, which the
    loop does not do, and on a CPU autocast float16 has no matrix units to run on: the bare
    conv loop ran at 0.07x of float32 on an Intel Xeon with AMX-BF16 and AVX512-FP16
    (bench/train_throughput.py).
    """
    check_precision(requested, accepted)
    if requested == "auto":
        return "bf16" if bf16_units(device) else FULL_PRECISION
    if requested == "fp16":
        why = (
            "CPUs have no float16 matrix units torch uses (autocast float16 on a CPU is slower "
            "than fp32)"
            if device.type == "cpu"
            else "float16 training needs loss scaling, which untwine does not do"
        )
        raise ConfigError(
            f"precision: 'fp16' is not supported on {device.type}: {why}; use bf16 or auto"
        )
    return requested


def recorded_precision(value: str) -> str:
    """The precision a run's ``config.yaml`` says it trained in. Training always records the
    resolved value; ``auto`` there means a run written before precision was a setting, all of
    which trained in float32."""
    return FULL_PRECISION if value == "auto" else value


def prefers_channels_last(precision: str) -> bool:
    """Whether convolutional networks run in NHWC layout: in bfloat16, where oneDNN's
    convolutions prefer it (bench/train_throughput.py, Intel Xeon with AMX: the bare bf16 loop
    1.93x fp32 in NHWC, 1.48x in NCHW); float32 keeps NCHW (0.96x with NHWC on an AVX2 CPU),
    the layout its reference digests were recorded in."""
    return precision == "bf16"


# -- networks in a precision ----------------------------------------------------------------


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
    module: nn.Module, precision: str, device_type: str, channels_last: bool | None = None
) -> None:
    """Run every network of ``module`` (see :func:`networks`) in ``precision`` (``"fp32"``,
    ``"bf16"`` or ``"fp16"``, resolved: see :func:`resolve_precision`) on ``device_type``,
    convolutional ones in NHWC layout if ``channels_last`` (None: where the precision prefers
    it, :func:`prefers_channels_last`); calling it again replaces the setting."""
    if channels_last is None:
        channels_last = prefers_channels_last(precision)
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
    module: nn.Module, precision: str, device_type: str, channels_last: bool | None = None
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
