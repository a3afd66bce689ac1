"""Vector fields of the toy dynamics experiments (the tutorial notebook's
proof-of-concept fits of paper sec. 2): the true systems that generate the data and
the learned fields that fit them. All are autonomous: ``forward(t, z)`` ignores t.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class LinearField(nn.Module):
    """dz/dt = A z with a learned (or fixed) D x D matrix A."""

    def __init__(self, matrix: Tensor):
        super().__init__()
        self.A = nn.Parameter(matrix.clone())

    @classmethod
    def random(cls, dim: int, std: float, generator: torch.Generator | None = None
               ) -> LinearField:
        """A ~ N(0, std^2) entrywise, the notebook's random initial guess."""
        return cls(torch.randn(dim, dim, generator=generator) * std)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        return z @ self.A.T  # (B, D)


class GatedLinearField(nn.Module):
    """The notebook's nonlinear system: two linear fields blended by a sigmoid gate,

        dx/dt = s(x.x0) A (x - x0) + s(-x.x0) B (x + x0),   s = logistic sigmoid.
    """

    def __init__(self, A: Tensor, B: Tensor, x0: Tensor):
        super().__init__()
        self.register_buffer("A", A.clone())
        self.register_buffer("B", B.clone())
        self.register_buffer("x0", x0.clone())

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        gate = torch.sigmoid(x @ self.x0)[:, None]  # (B, 1)
        return gate * ((x - self.x0) @ self.A.T) + (1 - gate) * ((x + self.x0) @ self.B.T)


class MLPField(nn.Module):
    """Time-invariant MLP field D -> H -> ... -> H -> D with ELU (the notebook's NNODEF)."""

    def __init__(self, dim: int, hidden: Sequence[int]):
        super().__init__()
        sizes = [dim, *hidden, dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ELU())
        self.net = nn.Sequential(*layers)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        return self.net(z)  # (B, D)
