"""The Gaussian family's PixelCNN decoder: causal, exact, normalised; its settings' errors."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from untwine import models
from untwine.config import ModelConfig, TrainConfig
from untwine.errors import ConfigError
from untwine.models.normal import index_code_mi
from untwine.models.pixelcnn_vae import PixelCNNGaussianVAE
from untwine.nets.pixelcnn import GatedPixelCNN, layer_reaches


def _model(shape=(1, 5, 6), **settings) -> PixelCNNGaussianVAE:
    torch.manual_seed(0)
    cfg = ModelConfig(
        network="mlp",
        z_dim=3,
        decoder="pixelcnn",
        decoder_channels=6,
        decoder_layers=3,
        decoder_kernel=3,
        **settings,
    )
    model = models.build("gaussian", shape, cfg).double()
    assert isinstance(model, PixelCNNGaussianVAE)
    return model.eval()


def visible(i: int, j: int, h: int, w: int, r: int) -> torch.Tensor:
    """Positions before (i, j) in raster order within receptive field r: the r rows above
    (r - 1 columns to either side) and r columns to the left in row i."""
    out = torch.zeros(h, w, dtype=torch.bool)
    out[max(0, i - r) : i, max(0, j - r + 1) : j + r] = True
    out[i, max(0, j - r) : j] = True
    return out


def test_conv_decoder_is_the_plain_vae_and_pixelcnn_its_subclass():
    cfg = ModelConfig(network="mlp", z_dim=3)
    assert type(models.build("gaussian", (1, 8, 8), cfg)) is models.GaussianVAE
    assert isinstance(_model(), models.GaussianVAE)  # same posterior, prior and family


@pytest.mark.parametrize(
    "dropout, conditioning", [(0.0, "map"), (0.3, "map"), (0.0, "vector"), (0.3, "vector")]
)
def test_pixel_parameters_depend_only_on_earlier_pixels_and_on_z(dropout, conditioning):
    model = _model(decoder_dropout=dropout, decoder_conditioning=conditioning)
    c, h, w = model.observation_shape
    # several images: a ReLU of the head that is off for one image hides no path for all
    x = torch.rand(8, c, h, w, dtype=torch.float64, requires_grad=True)
    z = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    params = model.decoder(z, x)
    r = model.decoder.pixelcnn.receptive_field
    assert r == 4  # 3 layers of kernel 3
    for i, j in itertools.product(range(h), range(w)):
        gx, gz = torch.autograd.grad(params[:, :, i, j].sum(), (x, z), retain_graph=True)
        seen = gx.abs().sum((0, 1)) > 0
        assert torch.equal(seen, visible(i, j, h, w, r)), (i, j)
        assert gz.abs().sum() > 0  # z reaches every pixel


def test_log_prob_is_the_sum_of_per_pixel_bernoulli_log_probs():
    """Pixel i's term computed from an image that agrees with x only before i (garbage from i
    on) is the same: one teacher-forced pass is exact."""
    model = _model()
    c, h, w = model.observation_shape
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(4, c, h, w, generator=g) > 0.5).double()
    z = torch.randn(4, 3, generator=g, dtype=torch.float64)
    total = torch.zeros(4, dtype=torch.float64)
    for i, j in itertools.product(range(h), range(w)):
        noisy = (torch.rand(x.shape, generator=g) > 0.5).double()
        noisy[:, :, :i] = x[:, :, :i]
        noisy[:, :, i, :j] = x[:, :, i, :j]
        logits = model.decoder(z, noisy)[:, :, i, j]
        total -= F.binary_cross_entropy_with_logits(logits, x[:, :, i, j], reduction="none").sum(1)
    torch.testing.assert_close(model.log_prob_x_given_z(x, z), total)


@pytest.mark.parametrize("conditioning", ["map", "vector"])
def test_p_x_given_z_sums_to_one_over_every_binary_image(conditioning):
    model = _model(shape=(1, 2, 2), decoder_conditioning=conditioning)
    xs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)), dtype=torch.float64)
    xs = xs.view(16, 1, 2, 2)
    z = torch.randn(1, 3, dtype=torch.float64).expand(16, 3)
    total = torch.logsumexp(model.log_prob_x_given_z(xs, z), 0)
    torch.testing.assert_close(total, torch.zeros((), dtype=torch.float64))


def test_raster_order_sampling_follows_the_model():
    """A 1x2x2 image drawn pixel by pixel: the frequencies of the 16 images match p(x|z)."""
    model = _model(shape=(1, 2, 2)).float()
    z = torch.randn(1, 3).expand(4000, 3)
    drawn, _ = model.draw(z, torch.Generator().manual_seed(0))
    assert set(drawn.unique().tolist()) <= {0.0, 1.0}
    codes = (drawn.view(-1, 4) * torch.tensor([8.0, 4.0, 2.0, 1.0])).sum(1).long()
    freq = torch.bincount(codes, minlength=16).double() / len(codes)
    xs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4))).view(16, 1, 2, 2)
    p = model.log_prob_x_given_z(xs, z[:16]).exp().double()
    assert (freq - p).abs().max() < 0.03  # 4000 draws: s.e. of a frequency <= 0.008


def test_vector_conditioning_is_z_projected_by_each_layer_alone():
    """The conditional PixelCNN's global conditioning: no network decoder, each gated layer
    projects z itself; at the first pixel, which sees no earlier pixel, z is all there is."""
    model = _model(decoder_conditioning="vector")
    assert isinstance(model.decoder.cond, torch.nn.Identity)
    assert all(layer.cond.in_channels == 3 for layer in model.decoder.pixelcnn.layers)
    mapped = _model()
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in mapped.parameters())
    x = torch.zeros(2, 1, 5, 6, dtype=torch.float64)
    z = torch.randn(1, 3, dtype=torch.float64).expand(2, 3)
    first = model.decoder(z, x)[:, :, 0, 0]
    assert torch.equal(first[0], first[1])
    assert not torch.equal(first, model.decoder(z + 1, x)[:, :, 0, 0])


def test_dropout_is_drawn_from_the_generator_and_off_in_eval():
    model = _model(decoder_dropout=0.5).train()
    x = (torch.rand(3, 1, 5, 6) > 0.5).double()
    z = torch.randn(3, 3, dtype=torch.float64)

    def lp(seed):
        return model.log_prob_x_given_z(x, z, torch.Generator().manual_seed(seed))

    assert torch.equal(lp(0), lp(0)) and not torch.equal(lp(0), lp(1))
    model.eval()
    assert torch.equal(lp(0), lp(1))


def test_restricted_receptive_field_sees_exactly_that_far():
    torch.manual_seed(0)
    h, w, r = 9, 9, 3
    net = GatedPixelCNN(1, 1, channels=4, layers=4, kernel_size=5, receptive_field=r).double()
    assert net.receptive_field == r
    x = torch.randn(1, 1, h, w, dtype=torch.float64, requires_grad=True)
    out = net(x)
    for i, j in [(6, 4), (8, 8), (2, 1)]:
        (g,) = torch.autograd.grad(out[0, 0, i, j], x, retain_graph=True)
        assert torch.equal(g[0, 0].abs() > 0, visible(i, j, h, w, r)), (i, j)


def test_layer_reaches():
    assert layer_reaches(3, 5, None) == [2, 2, 2]
    assert layer_reaches(4, 5, 4) == [2, 1, 0, 0]
    assert layer_reaches(2, 3, 1) == [0, 0]
    with pytest.raises(ValueError, match="at most 5"):
        layer_reaches(2, 5, 6)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"decoder_receptive_field": 0}, "decoder_receptive_field: Input should be greater"),
        ({"decoder_receptive_field": 12}, "decoder_receptive_field 12 is more than 5 layers"),
        ({"decoder_kernel": 4}, "decoder_kernel: must be odd"),
        ({"decoder": "lstm"}, "model.decoder: Input should be 'conv' or 'pixelcnn'"),
        ({"decoder_conditioning": "both"}, "decoder_conditioning: Input should be 'map' or"),
        ({"encoder_steps": 0}, "method.encoder_steps: Input should be greater than or equal"),
    ],
)
def test_bad_settings_are_one_line_errors(settings, message):
    with pytest.raises(ConfigError, match=message) as e:
        TrainConfig.from_flat(
            **{"method": "vae", "steps": 1, "out": "r", "decoder": "pixelcnn", **settings}
        )
    assert "\n" not in str(e.value)


def test_index_code_mi_is_the_elbo_decomposition_s():
    import numpy as np

    from untwine.metrics.elbo import elbo_decomposition

    rng = np.random.default_rng(3)
    mu = rng.normal(size=(300, 4))
    logvar = rng.normal(-1.0, 0.5, size=(300, 4))
    # the decomposition's own draws with all points kept: a permutation, then the noise
    same = np.random.default_rng(7)
    same.choice(300, size=300, replace=False)
    z = mu + np.exp(0.5 * logvar) * same.standard_normal(size=mu.shape)
    t = torch.from_numpy
    ours = index_code_mi(t(mu), t(logvar), t(z), block=64).item()
    theirs = elbo_decomposition(mu, logvar, num_samples=300, seed=7)["index_code_mi"]
    assert ours == pytest.approx(theirs, abs=1e-6)  # theirs: float32 blocks
    # a collapsed posterior (every q(z|x) the prior) carries no information
    zero = torch.zeros(300, 4, dtype=torch.float64)
    assert abs(index_code_mi(zero, zero, t(z))) < 1e-12
