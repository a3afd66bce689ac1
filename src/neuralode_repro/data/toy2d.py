"""2-D toy densities of the continuous normalizing flow experiments (paper sec. 4.1).

Two kinds of target:

* **Samplers** for maximum-likelihood training (paper Fig. 5, "Two Circles" and
  "Two Moons"): seeded, numpy-only re-implementations of the classic scikit-learn
  shapes, except that positions along each curve are drawn uniformly at random
  (scikit-learn spaces them evenly), so that every batch is an i.i.d. draw.
* **Unnormalised log-densities** log p~(z) = -U(z) for density matching
  (paper Fig. 4): the four test energies U_1..U_4 of Rezende & Mohamed 2015,
  "Variational Inference with Normalizing Flows", Table 1, with their constants as
  parameters. U_2..U_4 do not decay along z_1 (they are not normalisable on R^2);
  Rezende & Mohamed show them on [-4, 4]^2. ``envelope_std`` multiplies the density
  by an isotropic Gaussian envelope to make it normalisable.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from ..config import num

Potential = Callable[[Tensor], Tensor]  # z (B, 2) -> U(z) (B,)


# --- samplers -------------------------------------------------------------------------


def _halves(n: int) -> tuple[int, int]:
    if n < 2:
        raise ValueError(f"need at least 2 samples (one per component), got n={n}")
    return n // 2, n - n // 2


def two_moons(n: int, rng: np.random.Generator, *, noise: float = 0.1) -> np.ndarray:
    """Two interleaved half circles of radius 1, centred on the origin.

    Upper moon: (cos a, sin a) - (0.5, 0.25); lower moon: (1 - cos a, 0.5 - sin a)
    - (0.5, 0.25), a ~ U(0, pi); each point then gets isotropic Gaussian noise of
    standard deviation ``noise``. Half the points (rounded down) are on the upper
    moon; rows are shuffled. Returns (n, 2) float64.
    """
    n_up, n_low = _halves(n)
    a_up, a_low = rng.uniform(0, math.pi, n_up), rng.uniform(0, math.pi, n_low)
    up = np.stack([np.cos(a_up), np.sin(a_up)], axis=1)  # (n_up, 2)
    low = np.stack([1 - np.cos(a_low), 0.5 - np.sin(a_low)], axis=1)  # (n_low, 2)
    x = np.concatenate([up, low]) - np.array([0.5, 0.25])
    x = x + noise * rng.standard_normal(x.shape)
    return x[rng.permutation(n)]


def two_circles(n: int, rng: np.random.Generator, *, noise: float = 0.06,
                factor: float = 0.5) -> np.ndarray:
    """Two concentric circles of radii 1 and ``factor``, centred on the origin.

    Angles a ~ U(0, 2 pi); each point then gets isotropic Gaussian noise of standard
    deviation ``noise`` (the torchdiffeq CNF example uses noise 0.06, factor 0.5).
    Half the points (rounded down) are on the outer circle; rows are shuffled.
    Returns (n, 2) float64.
    """
    n_out, n_in = _halves(n)
    a = rng.uniform(0, 2 * math.pi, n)
    radius = np.concatenate([np.ones(n_out), np.full(n_in, factor)])
    x = radius[:, None] * np.stack([np.cos(a), np.sin(a)], axis=1)  # (n, 2)
    x = x + noise * rng.standard_normal(x.shape)
    return x[rng.permutation(n)]


@dataclasses.dataclass(frozen=True)
class Toy2DConfig:
    """A 2-D data set for maximum-likelihood training (paper Fig. 5).

    ``factor`` (inner radius) applies to ``two_circles`` only; its default is 0.5.
    """

    name: Literal["two_moons", "two_circles"] = "two_circles"
    noise: float = num(0.06, ge=0)
    factor: float | None = num(None, gt=0, lt=1)

    def validate(self) -> None:
        if self.name == "two_moons" and self.factor is not None:
            raise ValueError("factor applies to two_circles only; remove it for two_moons")

    def sample(self, n: int, rng: np.random.Generator) -> Tensor:
        """``n`` samples as a float32 tensor (n, 2)."""
        if self.name == "two_moons":
            x = two_moons(n, rng, noise=self.noise)
        else:
            x = two_circles(n, rng, noise=self.noise,
                            factor=0.5 if self.factor is None else self.factor)
        return torch.from_numpy(x).float()

    @torch.no_grad()
    def log_density(self, x: Tensor, n_quad: int = 4096) -> Tensor:
        """The true log-density log p(x) (B,) in float64, the floor a model's NLL can
        reach: p is an equal mixture of two curves c(a), a uniform on [0, pi] (moons)
        or [0, 2 pi] (circles), blurred by N(0, noise^2 I); the integral over a is a
        midpoint rule of ``n_quad`` nodes per curve (spacing << noise)."""
        if self.noise <= 0:
            raise ValueError(f"log_density needs noise > 0 (a curve has no density), "
                             f"got noise={self.noise}")
        span = math.pi if self.name == "two_moons" else 2 * math.pi
        a = (torch.arange(n_quad, dtype=torch.float64) + 0.5) * (span / n_quad)  # (Q,)
        ring = torch.stack([a.cos(), a.sin()], 1)  # (Q, 2)
        if self.name == "two_moons":
            shift = torch.tensor([0.5, 0.25], dtype=torch.float64)
            curves = torch.cat([ring, torch.tensor([1.0, 0.5], dtype=torch.float64) - ring])
            centres = curves - shift  # (2Q, 2)
        else:
            centres = torch.cat([ring, (0.5 if self.factor is None else self.factor) * ring])
        var = self.noise ** 2
        out = []
        c2 = (centres ** 2).sum(1)  # (2Q,)
        for chunk in x.to(torch.float64).split(4096):  # (b, 2): a (b, 2Q) block at a time
            # |x - c|^2 by one matmul (float64: no harmful cancellation at these scales)
            sq = ((chunk ** 2).sum(1, keepdim=True) - 2 * chunk @ centres.T + c2).clamp_min(0)
            out.append(torch.logsumexp(-sq / (2 * var), 1))
        return torch.cat(out) - math.log(2 * n_quad) - math.log(2 * math.pi * var)


# --- unnormalised target densities (Rezende & Mohamed 2015, Table 1) -------------------


def _sq(x: Tensor, scale: float) -> Tensor:
    return 0.5 * (x / scale) ** 2


def _w1(z1: Tensor, period: float) -> Tensor:
    return torch.sin(2 * math.pi * z1 / period)


def u1_ring(z: Tensor, *, radius: float = 2.0, width: float = 0.4, mode_at: float = 2.0,
            mode_width: float = 0.6) -> Tensor:
    """U_1: a ring of radius 2 with two modes at z_1 = +-2."""
    modes = torch.stack([-_sq(z[:, 0] - mode_at, mode_width),
                         -_sq(z[:, 0] + mode_at, mode_width)]).logsumexp(0)
    return _sq(z.norm(dim=1) - radius, width) - modes  # (B,)


def u2_wave(z: Tensor, *, width: float = 0.4, period: float = 4.0) -> Tensor:
    """U_2: a sine wave, z_2 = w_1(z_1) = sin(2 pi z_1 / 4)."""
    return _sq(z[:, 1] - _w1(z[:, 0], period), width)


def u3_split_wave(z: Tensor, *, width: float = 0.35, period: float = 4.0, gap: float = 3.0,
                  bump_at: float = 1.0, bump_width: float = 0.6) -> Tensor:
    """U_3: the sine wave plus a copy shifted by w_2 = 3 exp(-((z_1 - 1) / 0.6)^2 / 2)."""
    w1 = _w1(z[:, 0], period)
    w2 = gap * torch.exp(-_sq(z[:, 0] - bump_at, bump_width))
    return -torch.stack([-_sq(z[:, 1] - w1, width),
                         -_sq(z[:, 1] - w1 + w2, width)]).logsumexp(0)


def u4_step_wave(z: Tensor, *, width: float = 0.4, width2: float = 0.35, period: float = 4.0,
                 gap: float = 3.0, step_at: float = 1.0, step_width: float = 0.3) -> Tensor:
    """U_4: the sine wave plus a copy shifted by w_3 = 3 sigmoid((z_1 - 1) / 0.3)."""
    w1 = _w1(z[:, 0], period)
    w3 = gap * torch.sigmoid((z[:, 0] - step_at) / step_width)
    return -torch.stack([-_sq(z[:, 1] - w1, width),
                         -_sq(z[:, 1] - w1 + w3, width2)]).logsumexp(0)


POTENTIALS: dict[str, Callable[..., Tensor]] = {
    "u1_ring": u1_ring, "u2_wave": u2_wave, "u3_split_wave": u3_split_wave,
    "u4_step_wave": u4_step_wave}


@dataclasses.dataclass(frozen=True)
class PotentialConfig:
    """A density-matching target p~(z) = exp(-U(z)) (paper Fig. 4).

    ``params`` overrides the constants of the named energy (see its keyword
    arguments); ``envelope_std`` adds |z|^2 / (2 envelope_std^2) to U.
    """

    name: Literal["u1_ring", "u2_wave", "u3_split_wave", "u4_step_wave"] = "u1_ring"
    params: dict[str, float] | None = None
    envelope_std: float | None = num(None, gt=0)

    def validate(self) -> None:
        import inspect

        allowed = [p for p in inspect.signature(POTENTIALS[self.name]).parameters if p != "z"]
        bad = sorted(set(self.params or {}) - set(allowed))
        if bad:
            raise ValueError(f"params: unknown constant(s) {', '.join(bad)} for {self.name}; "
                             f"allowed: {', '.join(allowed)}")

    def energy(self) -> Potential:
        """U(z): (B, 2) -> (B,); the target log-density is -U up to a constant."""
        base, params, env = POTENTIALS[self.name], dict(self.params or {}), self.envelope_std

        def energy(z: Tensor) -> Tensor:
            u = base(z, **params)
            return u if env is None else u + 0.5 * (z ** 2).sum(1) / env ** 2

        return energy


def grid(lim: float = 4.0, n: int = 200, dtype: torch.dtype = torch.float32
         ) -> tuple[Tensor, float]:
    """Cell centres of an n x n grid on [-lim, lim]^2 as (n*n, 2), and the cell area."""
    h = 2 * lim / n
    c = torch.linspace(-lim + h / 2, lim - h / 2, n, dtype=dtype)
    zz = torch.stack(torch.meshgrid(c, c, indexing="xy"), dim=-1).reshape(-1, 2)
    return zz, h * h


def log_normalizer(energy: Potential, lim: float = 4.0, n: int = 400) -> float:
    """log Z = log int exp(-U) over [-lim, lim]^2 by the midpoint rule (float64).

    KL(q || p) with p = exp(-U) / Z restricted to the box is E_q[log q + U] + log Z.
    """
    z, area = grid(lim, n, torch.float64)
    with torch.no_grad():
        return float(torch.logsumexp(-energy(z), 0)) + math.log(area)
