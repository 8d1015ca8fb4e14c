"""The vector quantiser: nearest codes, straight-through gradient, EMA update, restarts."""

import math

import torch

from untwine.models.quantise import VectorQuantiser, code_usage


def _quantiser(codebook, **kw) -> VectorQuantiser:
    q = VectorQuantiser(codebook.shape[0], codebook.shape[1], **kw)
    q.codebook.data.copy_(codebook)
    if q.ema:
        q.code_sum.copy_(codebook)
    return q


def test_nearest_code_by_squared_distance():
    book = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    q = _quantiser(book)
    z = torch.tensor([[0.1, 0.1], [0.9, 0.2], [0.2, 1.5], [0.6, 0.0]])  # rows -> 0, 1, 2, 1
    out = q(z.t().reshape(1, 2, 4, 1))  # one example, a 4x1 map
    assert out.indices.flatten().tolist() == [0, 1, 2, 1]
    assert torch.equal(out.z_q.detach().reshape(2, 4).t(), book[[0, 1, 2, 1]])


def test_straight_through_passes_the_gradient_unchanged():
    q = _quantiser(torch.randn(8, 3), ema=False)
    z = torch.randn(2, 3, 4, 4, requires_grad=True)
    out = q(z)
    g = torch.randn_like(z)
    (out.z_q * g).sum().backward()
    assert torch.equal(z.grad, g)
    assert q.codebook.grad is None  # the decoder's gradient does not reach the codebook


def test_loss_terms_route_gradients_to_their_sides():
    q = _quantiser(torch.randn(8, 3), ema=False)
    z = torch.randn(2, 3, 2, 2, requires_grad=True)
    out = q(z)
    out.commitment().sum().backward()
    assert q.codebook.grad is None and z.grad.abs().sum() > 0
    z.grad = None
    out.codebook_loss().sum().backward()
    assert z.grad is None and q.codebook.grad.abs().sum() > 0
    want = ((z - out.codes) ** 2).sum(dim=(1, 2, 3))
    assert torch.allclose(out.commitment(), want.detach())


def test_ema_update_equals_the_formula_on_a_hand_made_batch():
    book = torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    q = _quantiser(book, decay=0.9, eps=0.1)
    # four vectors: three near code 0, one near code 1, none near code 2
    z = torch.tensor([[0.2, 0.0], [0.0, 0.4], [-0.2, 0.2], [1.0, 2.0]])
    out = q(z.t().reshape(1, 2, 4, 1))
    assert out.indices.flatten().tolist() == [0, 0, 0, 1]
    q.update(out)
    # by hand: N = 0.9 * 1 + 0.1 * n with n = (3, 1, 0)
    n_ema = [0.9 + 0.3, 0.9 + 0.1, 0.9]
    # m = 0.9 * e_init + 0.1 * (sum of assigned vectors)
    m = [[0.0 + 0.1 * 0.0, 0.0 + 0.1 * 0.6], [0.9 + 0.1, 0.9 + 0.2], [4.5, 4.5]]
    total = sum(n_ema)  # 3.0
    smoothed = [(n + 0.1) / (total + 3 * 0.1) * total for n in n_ema]
    want = torch.tensor([[mi / s for mi in row] for row, s in zip(m, smoothed, strict=True)])
    assert torch.allclose(q.cluster_size, torch.tensor(n_ema))
    assert torch.allclose(q.code_sum, torch.tensor(m))
    assert torch.allclose(q.codebook, want, atol=1e-6)


def test_a_dead_code_is_restarted_from_an_encoder_output():
    book = torch.tensor([[0.0, 0.0], [100.0, 100.0]])  # code 1 is far from every input
    q = _quantiser(book, restart_after=3)
    z = torch.randn(4, 2, 3, 3) * 0.1
    for step in range(3):
        assert q.unused_steps[1] == step
        q.update(q(z), torch.Generator().manual_seed(0))
    flat = z.movedim(1, -1).reshape(-1, 2)
    assert q.unused_steps[1] == 0
    assert (flat == q.codebook[1]).all(dim=1).any()  # now one of the batch's vectors
    assert torch.equal(q.code_sum[1], q.codebook[1]) and q.cluster_size[1] == 1


def test_kmeans_initialisation_finds_separated_clusters():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    g = torch.Generator().manual_seed(0)
    pts = centres.repeat_interleave(50, 0) + 0.1 * torch.randn(150, 2, generator=g)
    q = VectorQuantiser(3, 2, kmeans_init=True)
    q.train()
    q(pts.t().reshape(1, 2, 150, 1), torch.Generator().manual_seed(1))
    found = q.codebook[torch.cdist(centres, q.codebook).argmin(dim=1)]
    assert bool(q.initialised)
    assert torch.allclose(found, centres, atol=0.1)


def test_code_usage():
    u = code_usage(torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), 8)
    assert math.isclose(u["perplexity"].item(), 4.0, rel_tol=1e-6)
    assert u["codes_used"].item() == 0.5
    assert math.isclose(code_usage(torch.zeros(10, dtype=torch.long), 4)["perplexity"], 1.0)


def test_state_is_in_the_state_dict():
    q = VectorQuantiser(4, 2, restart_after=5)
    keys = set(q.state_dict())
    assert {"codebook", "cluster_size", "code_sum", "unused_steps", "initialised"} <= keys
