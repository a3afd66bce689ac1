"""The ODE functions the benchmarks solve (bench.py, cases.py, peers.py). Each counts
its own calls, as torchdiffeq has no counters; ``counting`` is off under a compiled
step (benchutil.uncounted), where a Python side effect would cost torch.compile dearly."""

from __future__ import annotations

import math

import torch
from torch import nn


class CubicMLP(nn.Module):
    """The tiny problem of the issue: an MLP on y^3, counting its own calls."""

    def __init__(self, hidden: tuple[int, ...]):
        super().__init__()
        sizes = (2, *hidden, 2)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers += [nn.Linear(a, b)] + ([nn.Tanh()] if i < len(sizes) - 2 else [])
        self.net = nn.Sequential(*layers)
        self.calls = 0
        self.counting = True  # off under compile: a Python side effect costs it dearly

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.counting:
            self.calls += 1
        return self.net(y ** 3)


class Counted(nn.Module):
    """Counts calls of an ODE function (torchdiffeq has no counters of its own)."""

    def __init__(self, func: nn.Module):
        super().__init__()
        self.func, self.calls = func, 0

    def forward(self, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.func(t, z)


class LinearSystems(nn.Module):
    """B unrelated linear systems dy_b/dt = A_b y_b (the batched case)."""

    def __init__(self, a: torch.Tensor):
        super().__init__()
        self.register_buffer("a", a)  # (B, D, D)
        self.calls = 0
        self.counting = True  # off under compile (benchutil.uncounted)

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.counting:
            self.calls += 1
        return torch.einsum("bij,bj->bi", self.a, y)


def linear_systems(batch: int = 256, dim: int = 4) -> tuple[LinearSystems, torch.Tensor]:
    """Stable symmetric systems, sample b's eigenvalues -lambda spread over 0.1 to 50
    (log-uniform; so each sample wants its own step size); and their y0."""
    g = torch.Generator().manual_seed(0)
    lam = torch.exp(torch.empty(batch, dim).uniform_(math.log(0.1), math.log(50), generator=g))
    q, _ = torch.linalg.qr(torch.randn(batch, dim, dim, generator=g))
    a = q @ torch.diag_embed(-lam) @ q.transpose(1, 2)  # (B, D, D)
    return LinearSystems(a), torch.randn(batch, dim, generator=g)
