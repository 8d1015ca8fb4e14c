"""The codebook family: shapes, losses, bound and representation of VQ-VAE and VQ-VAE-2."""

import math

import pytest
import torch

from untwine import models
from untwine.config import ModelConfig
from untwine.models.code_prior import CodeMapPrior

CFG = ModelConfig(z_dim=4, codebook_size=8, hidden=8, res_hidden=4, res_blocks=1)


@pytest.mark.parametrize(
    "family,size,shapes",
    [
        ("codebook", 64, [(16, 16)]),
        ("codebook", 28, [(7, 7)]),
        ("codebook2", 64, [(8, 8), (16, 16)]),
        ("codebook2", 28, [(3, 3), (7, 7)]),
    ],
)
def test_shapes_and_terms(family, size, shapes):
    torch.manual_seed(0)
    model = models.build(family, (1, size, size), CFG)
    x = torch.rand(3, 1, size, size)
    post = model.encode(x)
    assert [tuple(i.shape) for i in post.indices] == [(3, *s) for s in shapes]
    assert model.code_shapes() == shapes
    params = model.decode(post.z)
    assert params.shape == x.shape
    assert model.representation(x).shape == (3, 4 * len(shapes))
    assert post.commitment().shape == (3,)
    # the uniform-prior bound adds positions * log K to the reconstruction NLL
    recon = -model.log_prob(x, params)
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


@pytest.mark.parametrize("likelihood", ["logistic", "categorical"])
def test_8bit_likelihoods_get_their_parameters(likelihood):
    cfg = CFG.model_copy(update={"likelihood": likelihood, "levels": 16})
    model = models.build("codebook", (3, 28, 28), cfg)
    x = torch.randint(0, 16, (2, 3, 28, 28)).float() / 15
    params = model.decode(model.encode(x).z)
    assert params.shape[1] == 3 * model.likelihood.params_per_subpixel
    assert model.log_prob(x, params).shape == (2,)
    assert model.reconstruct(x).shape == x.shape
