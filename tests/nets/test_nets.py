import pytest
import torch

from untwine import nets
from untwine.errors import ConfigError


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name", ["conv64", "conv64-dlib", "mlp"])
@pytest.mark.parametrize("channels", [1, 3])
def test_networks_map_images_to_2z_and_back(name, channels):
    enc, dec = nets.build(name, (channels, 64, 64), 10, channels)
    x = torch.rand(2, channels, 64, 64)
    assert enc(x).shape == (2, 20)
    assert dec(torch.randn(2, 10)).shape == (2, channels, 64, 64)


def test_conv64_follows_the_paper_table():
    enc, dec = nets.build("conv64", (1, 64, 64), 10, 1)
    convs = [m for m in enc if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (32, (4, 4), (2, 2)),
        (32, (4, 4), (2, 2)),
        (64, (4, 4), (2, 2)),
        (64, (4, 4), (2, 2)),
    ]
    linears = [m for m in enc if isinstance(m, torch.nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(1024, 256), (256, 20)]
    deconvs = [m.out_channels for m in dec if isinstance(m, torch.nn.ConvTranspose2d)]
    assert deconvs == [64, 32, 32, 1]


def test_dlib_variant_uses_2x2_kernels_in_layers_3_and_4():
    enc, _ = nets.build("conv64-dlib", (1, 64, 64), 10, 1)
    kernels = [m.kernel_size for m in enc if isinstance(m, torch.nn.Conv2d)]
    assert kernels == [(4, 4), (4, 4), (2, 2), (2, 2)]
    paper, _ = nets.build("conv64", (1, 64, 64), 10, 1)
    assert n_params(enc) < n_params(paper)


def test_mlp_follows_chen_et_al():
    enc, dec = nets.build("mlp", (1, 64, 64), 10, 1)
    sizes = [(m.in_features, m.out_features) for m in enc if isinstance(m, torch.nn.Linear)]
    assert sizes == [(4096, 1200), (1200, 1200), (1200, 20)]
    assert sum(isinstance(m, torch.nn.Tanh) for m in dec) == 3


def test_conv64_rejects_other_image_sizes():
    with pytest.raises(ConfigError, match="64x64"):
        nets.build("conv64", (1, 32, 32), 10, 1)


def test_auto_takes_the_first_network_that_fits_the_images():
    assert nets.choose(nets.DEFAULT, (3, 64, 64)) == "conv64"
    assert nets.choose(nets.DEFAULT, (1, 28, 28)) == "mlp200"
    assert nets.fits("conv64-dlib", (1, 64, 64)) and not nets.fits("conv64-dlib", (1, 28, 28))
    with pytest.raises(ConfigError, match=r"none of the networks conv64 takes images of shape"):
        nets.choose(("conv64",), (1, 28, 28))
    enc, _ = nets.build(nets.AUTO, (1, 28, 28), 4, 1)
    assert enc[1].in_features == 784 and enc[1].out_features == 200
