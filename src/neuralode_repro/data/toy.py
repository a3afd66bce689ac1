"""Synthetic trajectories of the toy dynamics experiments (tutorial notebook):
one trajectory of a known 2-D system, observed at equally spaced times with
Gaussian noise, plus a noise-free continuation for extrapolation. The known systems
(:class:`LinearSystem`, :class:`GatedLinearSystem`) are the data's: fixed fields, no
parameters, which the learned ones (:mod:`neuralode_repro.models.toy`) fit."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from neuralode import odeint

from ..config import num

Matrix2 = tuple[tuple[float, float], tuple[float, float]]


class LinearSystem(nn.Module):
    """The notebook's linear system dz/dt = A z, A fixed."""

    def __init__(self, A: Tensor):
        super().__init__()
        self.register_buffer("A", A.clone())

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        return z @ self.A.T  # (B, D)


class GatedLinearSystem(nn.Module):
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


@dataclasses.dataclass(frozen=True)
class ToySystem:
    """A true system: ``linear`` (dz/dt = A z) or ``nonlinear`` (gated, needs B, x0)."""

    kind: Literal["linear", "nonlinear"]
    A: Matrix2
    B: Matrix2 | None = None
    x0: tuple[float, float] | None = None

    def validate(self) -> None:
        if self.kind == "nonlinear" and (self.B is None or self.x0 is None):
            raise ValueError("kind 'nonlinear' needs B and x0")
        if self.kind == "linear" and (self.B is not None or self.x0 is not None):
            raise ValueError("kind 'linear' takes only A; remove B and x0")

    def field(self) -> nn.Module:
        a = torch.tensor(self.A, dtype=torch.float64)
        if self.kind == "linear":
            return LinearSystem(a)
        return GatedLinearSystem(a, torch.tensor(self.B, dtype=torch.float64),
                                 torch.tensor(self.x0, dtype=torch.float64))


@dataclasses.dataclass(frozen=True)
class ToyDataConfig:
    """``generate_data.toy``: sampling shared by all systems, and the systems."""

    systems: dict[str, ToySystem]
    z0: tuple[float, float] = (0.6, 0.3)
    t_max: float = num(6.29 * 5, gt=0)
    n_points: int = num(200, ge=10)
    noise_std: float = num(0.01, ge=0)
    extrapolate_time: float = num(6.29, gt=0)
    extrapolate_points: int = num(40, ge=2)


def generate_toy(system: ToySystem, cfg: ToyDataConfig, seed: int) -> dict[str, np.ndarray]:
    """Integrate the true system in float64 at tight tolerance and add noise.

    Returns arrays ``t`` (N,), ``true`` (N, 2), ``obs`` (N, 2), ``t_extra`` (M,),
    ``true_extra`` (M, 2), and the system: ``kind``, ``A`` (2, 2), ``B``, ``x0``.
    """
    field = system.field()
    t = torch.linspace(0.0, cfg.t_max, cfg.n_points, dtype=torch.float64)
    t_extra = torch.linspace(cfg.t_max, cfg.t_max + cfg.extrapolate_time,
                             cfg.extrapolate_points + 1, dtype=torch.float64)
    z0 = torch.tensor([cfg.z0], dtype=torch.float64)  # (1, 2)
    with torch.no_grad():
        true = odeint(field, z0, torch.cat([t, t_extra[1:]]), rtol=1e-10, atol=1e-10)[:, 0]
    rng = np.random.default_rng(seed)
    true_np = true.numpy()
    obs = true_np[: cfg.n_points] + cfg.noise_std * rng.standard_normal((cfg.n_points, 2))
    out = {"t": t.numpy(), "true": true_np[: cfg.n_points], "obs": obs,
           "t_extra": t_extra[1:].numpy(), "true_extra": true_np[cfg.n_points:],
           "kind": np.array(system.kind), "A": np.asarray(system.A, dtype=np.float64)}
    if system.kind == "nonlinear":
        out["B"] = np.asarray(system.B, dtype=np.float64)
        out["x0"] = np.asarray(system.x0, dtype=np.float64)
    return out


def true_field(data: dict[str, np.ndarray]) -> nn.Module:
    """The generating system, rebuilt from the arrays of :func:`generate_toy`."""
    kind = str(data["kind"])
    return ToySystem(kind=kind, A=tuple(map(tuple, data["A"])),  # type: ignore[arg-type]
                     B=tuple(map(tuple, data["B"])) if kind == "nonlinear" else None,
                     x0=tuple(data["x0"]) if kind == "nonlinear" else None).field()


def sample_span(t: np.ndarray, rng: np.random.Generator, min_span: float, max_span: float,
                max_points: int) -> np.ndarray:
    """Indices of a random sub-span [t0, t0 + L], L ~ U(min_span, max_span), holding
    at most ``max_points`` observations (sorted), as the notebook's ``create_batch``."""
    t_max = float(t[-1])
    for _ in range(100):
        t0 = rng.uniform(0.0, t_max - max_span)
        t1 = t0 + rng.uniform(min_span, max_span)
        idx = np.flatnonzero((t > t0) & (t < t1))
        if len(idx) >= 2:
            return np.sort(rng.permutation(idx)[:max_points])
    raise ValueError(f"no sub-span of length [{min_span}, {max_span}] holds 2 observations; "
                     "lower min_span or raise n_points")
