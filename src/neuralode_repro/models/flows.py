"""Normalizing flows on R^D: the interface shared by the flow models of paper sec. 4.1,
and the discrete baseline, K stacked planar layers (Rezende & Mohamed 2015,
"Variational Inference with Normalizing Flows", sec. 4.1 and Appendix A.1; paper eq. 6-7).

A :class:`Flow` pushes a base N(0, base_std^2 I) to data. ``log_prob`` maps data back
to the base (maximum likelihood); ``sample_with_log_prob`` maps base samples forward
(density matching). A ``fraction`` in [0, 1] selects an intermediate time or depth
for the paper's snapshot figures. The continuous flow is in :mod:`.cnf`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_M_ZERO = math.log(math.e - 1)  # m(x) = -1 + softplus(x) vanishes here


class Flow(nn.Module):
    """Base N(0, base_std^2 I) in R^dim pushed through an invertible map."""

    def __init__(self, dim: int, base_std: float):
        super().__init__()
        self.dim, self.base_std = dim, base_std
        self.register_buffer("_like", torch.zeros(()), persistent=False)  # dtype, device

    def base_log_prob(self, z: Tensor) -> Tensor:
        return (-0.5 * (z / self.base_std) ** 2).sum(1) \
            - self.dim * (math.log(self.base_std) + 0.5 * math.log(2 * math.pi))  # (B,)

    def sample_base(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.base_std * torch.randn(n, self.dim, generator=generator,
                                           dtype=self._like.dtype, device=self._like.device)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n samples of the data distribution (n, D)."""
        return self.sample_with_log_prob(self.sample_base(n, generator))[0]

    def sample_with_log_prob(self, z0: Tensor) -> tuple[Tensor, Tensor]:
        """x = flow(z0) (B, D) and log q(x) (B,)."""
        xs, logq = self.snapshots(z0, [1.0])
        return xs[0], logq[0]

    def log_prob(self, x: Tensor, fraction: float = 1.0) -> Tensor:
        """log q(x) (B,) of the flow truncated at ``fraction`` of its time or depth."""
        raise NotImplementedError

    def snapshots(self, z0: Tensor, fractions: Sequence[float]) -> tuple[Tensor, Tensor]:
        """Samples (S, B, D) and their log q (S, B) at increasing ``fractions``."""
        raise NotImplementedError

    def log_prob_snapshots(self, x: Tensor, fractions: Sequence[float]) -> Tensor:
        """log q (S, B) at fixed points x (B, D) for each fraction: density panels."""
        return torch.stack([self.log_prob(x, f) for f in check_fractions(fractions)])


def check_fractions(fractions: Sequence[float]) -> list[float]:
    """``fractions`` as floats; they must be strictly increasing in [0, 1]."""
    fr = [float(f) for f in fractions]
    increasing = all(b > a for a, b in zip(fr, fr[1:], strict=False))
    if not fr or not increasing or any(not 0 <= f <= 1 for f in fr):
        raise ValueError(f"fractions must be strictly increasing in [0, 1], got {fr}")
    return fr


class PlanarLayer(nn.Module):
    """One planar layer z' = z + u_hat tanh(w^T z + b) (Rezende & Mohamed 2015, eq. 10;
    paper eq. 7), log|det dz'/dz| = log|1 + u_hat^T h'(w^T z + b) w| (RM eq. 11-12).

    u_hat = u + (m(w^T u) - w^T u) w / |w|^2 with m(x) = -1 + softplus(x) gives
    w^T u_hat > -1, hence an invertible layer (RM Appendix A.1).
    """

    def __init__(self, dim: int, init_std: float = 0.1):
        super().__init__()
        # Near-identity start: w ~ N(0, I / D) and w^T u = log(e - 1), i.e. m(w^T u) = 0,
        # so u_hat is u's part orthogonal to w (size ~init_std). The usual small-normal
        # init gives w^T u_hat ~ m(0) = -0.31, contracting each layer by ~0.7 at init.
        w = torch.randn(dim) / math.sqrt(dim)
        self.w = nn.Parameter(w)
        self.u = nn.Parameter(init_std * torch.randn(dim) + _M_ZERO * w / (w @ w))
        self.b = nn.Parameter(torch.zeros(()))

    def u_hat(self) -> Tensor:
        wu = self.w @ self.u
        return self.u + (F.softplus(wu) - 1 - wu) * self.w / (self.w @ self.w).clamp_min(1e-12)

    def wu_hat(self) -> Tensor:
        """w^T u_hat = m(w^T u) >= -1, computed without the rounding of a dot product."""
        return F.softplus(self.w @ self.u) - 1

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z' (B, D) and log|det dz'/dz| (B,)."""
        u = self.u_hat()
        h = torch.tanh(z @ self.w + self.b)  # (B,)
        return z + h[:, None] * u, torch.log1p((1 - h ** 2) * self.wu_hat())

    def inverse(self, y: Tensor, max_iter: int = 100) -> tuple[Tensor, Tensor]:
        """z (B, D) with forward(z) = y, and log|det dy/dz| at z (B,).

        With a = w^T z + b and c = w^T u_hat > -1, w^T y + b = a + c tanh(a) is
        strictly increasing in a: solved by bracketed Newton, then one Newton step
        with graph so that gradients are those of the implicit function.
        """
        u = self.u_hat()
        c, s = self.wu_hat(), y @ self.w + self.b  # (), (B,)
        with torch.no_grad():
            a, lo, hi = s.clone(), s - c.abs(), s + c.abs()
            tol = 4 * torch.finfo(s.dtype).eps
            for _ in range(max_iter):
                h = torch.tanh(a)
                g = a + c * h - s
                lo, hi = torch.where(g < 0, a, lo), torch.where(g > 0, a, hi)
                nxt = a - g / (1 + c * (1 - h ** 2))
                nxt = torch.where((nxt < lo) | (nxt > hi), (lo + hi) / 2, nxt)
                done = bool(((nxt - a).abs() <= tol * (1 + a.abs())).all())
                a = nxt
                if done:
                    break
        h = torch.tanh(a)
        a = a - (a + c * h - s) / (1 + c * (1 - h ** 2))
        h = torch.tanh(a)
        return y - h[:, None] * u, torch.log1p((1 - h ** 2) * c)


class PlanarNF(Flow):
    """K stacked planar layers (Rezende & Mohamed 2015), the paper's NF baseline.

    ``direction='generative'``: the layers map base -> data (cheap sampling and KL;
    ``log_prob`` inverts each layer numerically). ``'normalizing'``: the layers map
    data -> base (cheap ``log_prob``; sampling inverts).
    """

    def __init__(self, dim: int = 2, depth: int = 64, *, base_std: float = 1.0,
                 direction: Literal["generative", "normalizing"] = "generative"):
        super().__init__(dim, base_std)
        self.direction = direction
        self.layers = nn.ModuleList(PlanarLayer(dim) for _ in range(depth))

    def _step(self, i: int, z: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        """Sampling step i (base side first) or its inverse, and log|det| of step i."""
        if self.direction == "generative":
            layer = self.layers[i]
            return layer.inverse(z) if inverse else layer(z)
        layer = self.layers[len(self.layers) - 1 - i]  # step i undoes this layer
        z, logdet = layer(z) if inverse else layer.inverse(z)
        return z, -logdet

    def _depth(self, fraction: float) -> int:
        return round(fraction * len(self.layers))

    def log_prob(self, x: Tensor, fraction: float = 1.0) -> Tensor:
        logdet = x.new_zeros(x.shape[0])
        for i in reversed(range(self._depth(check_fractions([fraction])[0]))):
            x, ld = self._step(i, x, inverse=True)
            logdet = logdet + ld
        return self.base_log_prob(x) - logdet  # (B,)

    def snapshots(self, z0: Tensor, fractions: Sequence[float]) -> tuple[Tensor, Tensor]:
        depths = [self._depth(f) for f in check_fractions(fractions)]
        z, logq, xs, lqs = z0, self.base_log_prob(z0), [], []
        for k in range(depths[-1] + 1):
            if k > 0:
                z, ld = self._step(k - 1, z, inverse=False)
                logq = logq - ld
            xs += [z] * depths.count(k)
            lqs += [logq] * depths.count(k)
        return torch.stack(xs), torch.stack(lqs)  # (S, B, D), (S, B)
