"""The PixelCNN prior over code maps: exact log-probabilities and exact sampling."""

import math

import numpy as np
import torch
from scipy.stats import chisquare

from untwine.models.code_prior import CodePrior

PATTERNS = torch.tensor([[[0, 1], [1, 0]], [[2, 2], [2, 2]], [[1, 0], [0, 2]], [[0, 0], [0, 0]]])
PROBS = torch.tensor([0.4, 0.3, 0.2, 0.1])


def _fit(prior: CodePrior, cond=None, steps=300) -> CodePrior:
    opt = torch.optim.Adam(prior.parameters(), lr=1e-2)
    for _ in range(steps):  # the exact expected NLL of the fixed distribution
        loss = -(PROBS * prior.log_prob(PATTERNS, cond)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return prior


def _counts(maps: torch.Tensor) -> np.ndarray:
    match = (maps[:, None] == PATTERNS[None]).flatten(2).all(dim=2)  # (n, 4)
    return np.append(match.sum(0).numpy(), (~match.any(dim=1)).sum().item())


def test_samples_reproduce_a_fixed_code_distribution():
    torch.manual_seed(0)
    prior = _fit(CodePrior(3, channels=16, layers=3, kernel_size=3)).eval()
    # the learnt model is close to the target (expected NLL near its entropy) ...
    entropy = -(PROBS * PROBS.log()).sum()
    assert -(PROBS * prior.log_prob(PATTERNS)).sum().item() < entropy.item() + 0.02
    # ... and its raster-order samples follow it (chi-square over the four maps, the rest ~0)
    n = 2000
    maps = prior.sample(n, (2, 2), generator=torch.Generator().manual_seed(1))
    counts = _counts(maps)
    assert counts[-1] <= 0.01 * n
    expected = np.array([0.4, 0.3, 0.2, 0.1]) * counts[:4].sum()
    assert chisquare(counts[:4], expected).pvalue > 0.001


def test_log_prob_sums_to_one_over_every_map():
    torch.manual_seed(0)
    prior = CodePrior(2, channels=8, layers=2, kernel_size=3).eval()
    every = torch.tensor(list(np.ndindex(*(2,) * 4))).view(-1, 2, 2)
    total = prior.log_prob(every).exp().sum().item()
    assert math.isclose(total, 1.0, rel_tol=1e-5)


def test_a_conditioned_prior_follows_its_condition():
    torch.manual_seed(0)
    prior = CodePrior(3, channels=16, layers=2, kernel_size=3, cond_codes=4)
    cond = torch.arange(4).view(4, 1, 1)  # a 1x1 condition map naming the pattern
    opt = torch.optim.Adam(prior.parameters(), lr=1e-2)
    for _ in range(150):
        loss = -prior.log_prob(PATTERNS, cond).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    prior.eval()
    maps = prior.sample(4, (2, 2), cond, torch.Generator().manual_seed(0))
    assert torch.equal(maps, PATTERNS)


def test_uniform_nll():
    assert math.isclose(CodePrior.uniform_nll(64, 512), 64 * math.log(512))
