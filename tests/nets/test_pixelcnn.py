"""The gated PixelCNN is causal in raster order and has no blind spot."""

import pytest
import torch

from untwine.nets.pixelcnn import GatedPixelCNN


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_output_depends_on_every_earlier_position_and_no_other(kernel_size):
    torch.manual_seed(0)
    h, w = 5, 6
    net = GatedPixelCNN(2, 3, channels=8, layers=6, kernel_size=kernel_size).double()
    x = torch.randn(1, 2, h, w, dtype=torch.float64, requires_grad=True)
    out = net(x)
    for i in range(h):
        for j in range(w):
            (g,) = torch.autograd.grad(out[0, :, i, j].sum(), x, retain_graph=True)
            seen = g[0].abs().sum(dim=0) > 0  # (h, w)
            earlier = torch.zeros(h, w, dtype=torch.bool)
            earlier[:i] = True
            earlier[i, :j] = True
            # causal: nothing at or after (i, j); no blind spot: everything before it
            assert torch.equal(seen, earlier), (i, j, seen.int())


def test_conditioning_map_and_vector_reach_every_position():
    torch.manual_seed(0)
    net = GatedPixelCNN(1, 2, channels=4, layers=2, cond_channels=3)
    x = torch.randn(2, 1, 4, 4)
    for cond in (
        torch.randn(2, 3, 4, 4, requires_grad=True),
        torch.randn(2, 3, requires_grad=True),
    ):
        out = net(x, cond)
        (g,) = torch.autograd.grad(out[0, :, 0, 0].sum(), cond)
        assert g[0].abs().sum() > 0 and g[1].abs().sum() == 0  # per example
