"""Networks in reduced precision: bf16 inside, float32 out, the loss untouched; and the choice
of precision from what the device has."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from untwine.errors import ConfigError
from untwine.nets import build
from untwine.nets.precision import (
    networks,
    networks_in,
    precision_of,
    recorded_precision,
    resolve_precision,
    run_networks_in,
)


class Owner(nn.Module):
    """A model-like owner: two networks, a parameterless child and a full-precision one."""

    full_precision_children = ("codebook",)

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
        self.decoder = nn.Linear(4, 6)
        self.codebook = nn.Linear(4, 4)
        self.act = nn.ReLU()


def _inner_dtypes(net: nn.Module) -> list[torch.dtype]:
    seen: list[torch.dtype] = []
    for layer in net.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
            layer.register_forward_hook(lambda m, a, out: seen.append(out.dtype))
    return seen


def test_networks_are_the_children_with_parameters_except_full_precision_ones():
    assert [name for name, _ in networks(Owner())] == ["encoder", "decoder"]


def test_bf16_runs_inside_the_network_and_hands_back_float32():
    owner = Owner()
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))
    reference = owner.encoder(x)
    run_networks_in(owner, "bf16", "cpu")
    inner = _inner_dtypes(owner.encoder)
    codebook_inner = _inner_dtypes(owner.codebook)
    out = owner.encoder(x)
    owner.codebook(out)
    assert inner == [torch.bfloat16, torch.bfloat16]
    assert codebook_inner == [torch.float32]
    assert out.dtype == torch.float32
    assert not torch.equal(out, reference)
    torch.testing.assert_close(out, reference, atol=0.05, rtol=0.05)
    # weights and their gradients stay float32: Adam updates float32 master weights
    out.square().sum().backward()
    assert all(p.dtype == p.grad.dtype == torch.float32 for p in owner.encoder.parameters())
    # autocast was left: code after the network computes in float32
    assert (owner.act(x) @ torch.ones(6, 2)).dtype == torch.float32


def test_autocast_is_left_even_when_a_network_raises():
    owner = Owner()
    run_networks_in(owner, "bf16", "cpu")
    with pytest.raises(RuntimeError):
        owner.encoder(torch.zeros(2, 7))  # wrong width
    assert not torch.is_autocast_enabled("cpu")


def test_fp32_again_restores_the_class_forward():
    owner = Owner()
    x = torch.randn(3, 6)
    reference = owner.encoder(x)
    run_networks_in(owner, "bf16", "cpu")
    run_networks_in(owner, "fp32", "cpu")
    assert "forward" not in vars(owner.encoder)
    assert torch.equal(owner.encoder(x), reference)


def test_a_deep_copy_runs_its_own_weights_in_the_same_precision():
    owner = Owner()
    x = torch.randn(3, 6)
    run_networks_in(owner, "bf16", "cpu")
    twin = copy.deepcopy(owner)
    with torch.no_grad():
        for p in twin.encoder.parameters():
            p.mul_(2)
    seen = _inner_dtypes(twin.encoder)
    assert not torch.equal(twin.encoder(x), owner.encoder(x))
    assert seen == [torch.bfloat16, torch.bfloat16]


def _conv_owner(n: int):
    """A module owning a conv64 encoder and decoder, a batch of n images and the fp32 output."""
    torch.manual_seed(0)
    encoder, decoder = build("conv64", (1, 64, 64), 4, 1)
    owner = nn.Module()
    owner.encoder, owner.decoder = encoder, decoder
    x = torch.rand(n, 1, 64, 64)
    return owner, encoder, decoder, x, decoder(encoder(x)[:, :4])


def test_channels_last_conv_nets_compute_the_same_function():
    owner, encoder, decoder, x, reference = _conv_owner(3)
    run_networks_in(owner, "fp32", "cpu", channels_last=True)
    assert encoder[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(decoder(encoder(x)[:, :4]), reference, atol=1e-5, rtol=1e-5)


def test_networks_in_restores_the_setting_and_the_layout_it_found():
    owner, encoder, decoder, x, reference = _conv_owner(2)
    with networks_in(owner, "bf16", "cpu", channels_last=True):
        assert encoder[0].weight.is_contiguous(memory_format=torch.channels_last)
        assert decoder(encoder(x)[:, :4]).dtype == torch.float32
    # fp32 in NCHW again: the very same numbers as before the block
    assert precision_of(owner)[0::2] == ("fp32", False)
    assert encoder[0].weight.is_contiguous()
    assert torch.equal(decoder(encoder(x)[:, :4]), reference)
    run_networks_in(owner, "bf16", "cpu")
    with networks_in(owner, "fp32", "cpu"):
        seen = _inner_dtypes(encoder)
        encoder(x)
        assert set(seen) == {torch.float32}
    seen.clear()
    encoder(x)
    assert torch.bfloat16 in seen  # the owner's own bf16 setting is back


def _caps(monkeypatch, **flags: bool) -> None:
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: dict(flags))


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"amx_bf16": True, "avx512_bf16": True}, "bf16"),
        ({"amx_bf16": False, "avx512_bf16": True}, "bf16"),
        ({"amx_bf16": False, "avx512_bf16": False, "avx2": True}, "fp32"),  # AVX2-only EPYC
    ],
)
def test_auto_is_bf16_exactly_where_the_cpu_has_bf16_units(monkeypatch, flags, expected):
    _caps(monkeypatch, **flags)
    assert resolve_precision("auto", torch.device("cpu")) == expected
    # an explicit choice is kept whatever the hardware
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"


@pytest.mark.parametrize("supported", [True, False])
def test_auto_on_cuda_asks_torch_whether_bf16_is_supported(monkeypatch, supported):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    expected = "bf16" if supported else "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == expected


def test_fp16_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match=r"precision: 'fp16' is not supported on cpu: .*slower"):
        resolve_precision("fp16", torch.device("cpu"))
    with pytest.raises(ConfigError, match=r"on cuda: .*loss scaling"):
        resolve_precision("fp16", torch.device("cuda"))


def test_a_recorded_auto_predates_the_setting_and_means_fp32():
    assert recorded_precision("auto") == "fp32"
    assert recorded_precision("bf16") == "bf16"
