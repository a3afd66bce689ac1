"""Learned vector fields of the toy dynamics experiments (the tutorial notebook's
proof-of-concept fits of paper sec. 2): a linear field, and the notebook's NNODEF,
:class:`~neuralode_repro.models.mlp.MLPField`. Both are autonomous: ``forward(t, z)``
ignores t. The true systems that generate the data are the data's
(:mod:`neuralode_repro.data.toy`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .mlp import MLPField

__all__ = ["LinearField", "MLPField"]


class LinearField(nn.Module):
    """dz/dt = A z with a learned D x D matrix A."""

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
