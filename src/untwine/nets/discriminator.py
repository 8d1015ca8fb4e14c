"""FactorVAE's discriminator: an MLP on codes z that tells q(z) from the product of its marginals.

Kim & Mnih (2018), "Disentangling by Factorising", appendix (architecture table): six fully
connected layers of 1000 units with leaky ReLU (slope 0.2), then 2 logits. Logit 0 scores
"z is a sample of q(z)", logit 1 "z is a sample of prod_j q(z_j)"; their difference is the
log density ratio log(D(z) / (1 - D(z))) with D = softmax(logits)[0].
"""

from __future__ import annotations

from torch import Tensor, nn


class Discriminator(nn.Module):
    """MLP (N, z_dim) -> (N, 2) logits."""

    def __init__(
        self, z_dim: int, hidden: int = 1000, layers: int = 6, negative_slope: float = 0.2
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = z_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.LeakyReLU(negative_slope)]
            width = hidden
        blocks.append(nn.Linear(width, 2))
        self.net = nn.Sequential(*blocks)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)

    def log_density_ratio(self, z: Tensor) -> Tensor:
        """log D(z) - log(1 - D(z)) per example, (N,): logit 0 minus logit 1."""
        logits = self(z)
        return logits[:, 0] - logits[:, 1]
