"""The codebook family: shapes, losses, bound and representation of VQ-VAE and VQ-VAE-2."""

import math
from types import SimpleNamespace

import pytest
import torch

from untwine.models.code_prior import CodeMapPrior
from untwine.models.codebook import VQVAE, VQVAE2

PARAMS = SimpleNamespace(
    codebook_size=8,
    code_dim=4,
    ema=True,
    decay=0.99,
    eps=1e-5,
    restart_after=0,
    kmeans_init=False,
    hidden=8,
    res_hidden=4,
    res_blocks=1,
)


@pytest.mark.parametrize(
    "cls,size,shapes",
    [
        (VQVAE, 64, [(16, 16)]),
        (VQVAE, 28, [(7, 7)]),
        (VQVAE2, 64, [(8, 8), (16, 16)]),
        (VQVAE2, 28, [(3, 3), (7, 7)]),
    ],
)
def test_shapes_and_terms(cls, size, shapes):
    torch.manual_seed(0)
    model = cls((1, size, size), PARAMS)
    x = torch.rand(3, 1, size, size)
    post = model.encode(x)
    assert [tuple(i.shape) for i in post.indices] == [(3, *s) for s in shapes]
    assert model.code_shapes() == shapes
    params = model.decode(post.z)
    assert params.shape == x.shape
    assert model.representation(x).shape == (3, 4 * len(shapes))
    assert post.commitment().shape == (3,)
    # the uniform-prior bound adds positions * log K to the reconstruction NLL
    recon = model.reconstruction_nll(params, x)
    positions = sum(h * w for h, w in shapes)
    bound = model.nll_bound(x)
    assert torch.allclose(bound, recon + positions * math.log(8), rtol=1e-5)
    # a learnt prior's NLL plugs into the same bound
    prior = CodeMapPrior(model.num_codes, shapes, channels=8, layers=1, kernel_size=3)
    with torch.no_grad():
        pnll = prior.nll(post.indices)
    assert torch.allclose(model.nll_bound(x, pnll), recon + pnll, rtol=1e-5)
    samples = prior.sample(2, torch.Generator().manual_seed(0))
    assert [tuple(s.shape) for s in samples] == [(2, *s) for s in shapes]
    assert model.decode_indices(samples).shape == (2, 1, size, size)
