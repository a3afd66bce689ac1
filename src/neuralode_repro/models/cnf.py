"""Continuous normalizing flows (paper sec. 4, Theorem 1, Appendix A.1), plus the
config, factory and losses shared with the planar NF baseline (:mod:`.flows`).

A CNF integrates the state and its log-density together,

    d/dt [z, log p(z)] = [f(z, t), -tr(df/dz)]            (Theorem 1, eq. 8)

on one packed tensor (B, D + 1). Both models map a base N(0, base_std^2 I) to data;
``log_prob`` runs the map backwards (maximum likelihood, paper Fig. 5) and
``sample_with_log_prob`` forwards (density matching, KL(q || p), paper Fig. 4).
A ``fraction`` in [0, 1] selects an intermediate time t = fraction * t1 (CNF) or
depth k = round(fraction * K) (NF) for the paper's snapshot figures.
Models never own a training loop: :func:`nll_loss` and :func:`kl_loss` return
``(loss, logs)`` for :func:`neuralode_repro.training.fit`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ..config import SolverConfig, num
from ..solving import solve
from .flows import Flow, PlanarNF, check_fractions

Trace = Literal["exact", "hutchinson", "analytic"]
Noise = Literal["rademacher", "gaussian"]
Units = Literal["sum", "mean"]
Gate = Literal["unit", "dimension"]


def _grad(out: Tensor, z: Tensor, v: Tensor | None, create_graph: bool) -> Tensor:
    g = torch.autograd.grad(out, z, grad_outputs=v, create_graph=create_graph,
                            retain_graph=True, allow_unused=True)[0]
    return torch.zeros_like(z) if g is None else g


def divergence_exact(f: Tensor, z: Tensor, create_graph: bool = False) -> Tensor:
    """tr(df/dz) per sample with D backward passes; f, z (B, D) -> (B,).

    Exact when row b of f depends only on row b of z (true of every field here).
    """
    div = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device)
    for i in range(z.shape[1]):
        div = div + _grad(f[:, i].sum(), z, None, create_graph)[:, i]
    return div


def divergence_hutchinson(f: Tensor, z: Tensor, noise: Tensor,
                          create_graph: bool = False) -> Tensor:
    """Hutchinson's unbiased estimate e^T (df/dz) e, E[e e^T] = I, with one
    vector-Jacobian product; f, z, noise (B, D) -> (B,) (as in FFJORD, Grathwohl 2019)."""
    return (_grad(f, z, noise, create_graph) * noise).sum(1)


def hutchinson_noise(like: Tensor, kind: Noise = "rademacher") -> Tensor:
    """Probe vectors with E[e e^T] = I, shaped like ``like``: +-1 or N(0, 1) entries."""
    if kind == "gaussian":
        return torch.randn_like(like)
    return torch.randint_like(like, 2) * 2 - 1


class _Augmented(nn.Module):
    """d/dt [z, l] = [f(t, z), -tr(df/dz)] on a packed (B, D + 1) state."""

    def __init__(self, field: nn.Module, trace: Trace, noise: Tensor | None):
        super().__init__()
        self.field, self.trace, self.noise = field, trace, noise

    def forward(self, t: Tensor, y: Tensor) -> Tensor:
        create = torch.is_grad_enabled()  # False in the adjoint's forward / evaluation
        with torch.enable_grad():
            z = y[:, :-1]  # (B, D)
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            if self.trace == "analytic":
                f, div = self.field.with_divergence(t, z)
            else:
                f = self.field(t, z)  # (B, D)
                div = divergence_exact(f, z, create) if self.noise is None \
                    else divergence_hutchinson(f, z, self.noise, create)
        return torch.cat([f, -div[:, None]], dim=1)  # (B, D + 1)


class CNF(nn.Module):
    """A continuous normalizing flow block around any field ``f(t, z)``, (B, D) -> (B, D).

    ``trace``: ``exact`` (D autograd passes, for small D), ``hutchinson`` (one
    vector-Jacobian product; the probe is drawn once per solve, so the forward and the
    adjoint's backward see the same ODE), or ``analytic`` (the field's own
    ``with_divergence(t, z) -> (f, tr)``).
    """

    def __init__(self, field: nn.Module, *, solver: SolverConfig | None = None,
                 trace: Trace = "exact", noise: Noise = "rademacher"):
        super().__init__()
        if trace == "analytic" and not hasattr(field, "with_divergence"):
            raise ValueError(f"trace='analytic' needs {type(field).__name__}.with_divergence; "
                             "use trace='exact' or 'hutchinson'")
        self.field, self.trace, self.noise = field, trace, noise
        self.solver = SolverConfig() if solver is None else solver

    def forward(self, z: Tensor, logp: Tensor, t: Sequence[float] | Tensor
                ) -> tuple[Tensor, Tensor]:
        """Integrate [z, log p] from t[0] through t; z (B, D), logp (B,) ->
        z(t) (T, B, D) and log p(z(t)) (T, B)."""
        noise = hutchinson_noise(z, self.noise) if self.trace == "hutchinson" else None
        func = _Augmented(self.field, self.trace, noise)
        y0 = torch.cat([z, logp[:, None]], dim=1)  # (B, D + 1)
        t = torch.as_tensor(t, dtype=y0.dtype, device=y0.device)
        ys = solve(func, y0, t, self.solver, adjoint_params=tuple(self.field.parameters()))
        return ys[..., :-1], ys[..., -1]  # (T, B, D), (T, B)


class PlanarField(nn.Module):
    """Gated planar CNF dynamics (paper eq. 9-10, sec. 4 "Time-dependent dynamics"):

        dz/dt = sum_m sigmoid(g_m(t)) u_m(t) tanh(w_m(t)^T z + b_m(t)),

    where a hypernetwork t -> (w, u, b, g) (tanh MLP, 2 hidden layers) makes the M
    units time-dependent and the gate sigmoid(g_m) in (0, 1) decides when unit m acts.
    Its trace is analytic (Appendix A.1, eq. 28): sum_m sigma_m (u_m . w_m) (1 - h_m^2).
    The authors' autograd gist departs in two ways, both options here: ``units: mean``
    divides the sum by M, and ``gate: dimension`` gates each unit per output dimension
    (g_m in R^D, sigmoid(g_m) * u_m elementwise) instead of once (``unit``).
    """

    def __init__(self, dim: int, width: int, hidden: int, units: Units = "sum",
                 gate: Gate = "unit"):
        super().__init__()
        self.dim, self.width, self.gate = dim, width, gate
        self.scale = 1.0 / width if units == "mean" else 1.0
        n_gate = width * (dim if gate == "dimension" else 1)
        self.hyper = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden),
                                   nn.Tanh(), nn.Linear(hidden, width * (2 * dim + 1) + n_gate))

    def units(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """w (M, D), gated (and, for ``units: mean``, 1/M-scaled) u (M, D), b (M,) at t."""
        m, d = self.width, self.dim
        p = self.hyper(t.reshape(1, 1)).reshape(-1)
        w, u = p[: m * d].view(m, d), p[m * d: 2 * m * d].view(m, d)
        b = p[2 * m * d: 2 * m * d + m]
        gate = torch.sigmoid(p[2 * m * d + m:]).view(m, d if self.gate == "dimension" else 1)
        return w, u * gate * self.scale, b

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        w, u, b = self.units(t)
        return torch.tanh(z @ w.T + b) @ u  # (B, M) @ (M, D) -> (B, D)

    def with_divergence(self, t: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        w, u, b = self.units(t)
        h = torch.tanh(z @ w.T + b)  # (B, M)
        return h @ u, (1 - h ** 2) @ (u * w).sum(1)  # (B, D), (B,)


class PlanarCNF(Flow):
    """Planar CNF of width M (paper sec. 4, Appendix A.1): z(0) ~ base, x = z(t1)."""

    def __init__(self, dim: int = 2, width: int = 64, hidden: int = 32, *, t1: float = 1.0,
                 base_std: float = 1.0, solver: SolverConfig | None = None,
                 trace: Trace = "exact", noise: Noise = "rademacher", units: Units = "sum",
                 gate: Gate = "unit"):
        super().__init__(dim, base_std)
        self.t1 = t1
        self.cnf = CNF(PlanarField(dim, width, hidden, units, gate), solver=solver,
                       trace=trace, noise=noise)

    def log_prob(self, x: Tensor, fraction: float = 1.0) -> Tensor:
        t = check_fractions([fraction])[0] * self.t1
        if t == 0:
            return self.base_log_prob(x)
        # from [x, 0] at t back to 0: l(0) = int_0^t tr(df/dz), log q_t(x) = log p(z0) - l(0)
        zs, ls = self.cnf(x, x.new_zeros(x.shape[0]), [t, 0.0])
        return self.base_log_prob(zs[-1]) - ls[-1]

    def snapshots(self, z0: Tensor, fractions: Sequence[float]) -> tuple[Tensor, Tensor]:
        fr = check_fractions(fractions)
        lp0 = self.base_log_prob(z0)
        times = [0.0] + [f * self.t1 for f in fr if f > 0]
        if len(times) == 1:
            return z0[None], lp0[None]
        zs, lq = self.cnf(z0, lp0, times)  # (T, B, D), (T, B)
        return (zs, lq) if fr[0] == 0 else (zs[1:], lq[1:])


# --- configuration, factory and losses -----------------------------------------------

_CNF_ONLY = ("hidden", "t1", "trace", "noise", "solver", "units", "gate")
_NF_ONLY = ("direction",)


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """A flow model: ``cnf`` (planar CNF with ``width`` = M units) or ``nf`` (planar NF
    with ``width`` = K layers). ``hidden``, ``t1``, ``trace``, ``noise``, ``solver``,
    ``units`` and ``gate`` (:class:`PlanarField`) apply to ``cnf`` only, ``direction``
    to ``nf`` only."""

    kind: Literal["cnf", "nf"] = "cnf"
    dim: int = num(2, ge=1)
    width: int = num(64, ge=1)
    hidden: int = num(32, ge=1)
    t1: float = num(1.0, gt=0)
    base_std: float = num(1.0, gt=0)
    trace: Trace = "exact"
    noise: Noise = "rademacher"
    direction: Literal["generative", "normalizing"] = "generative"
    solver: SolverConfig = dataclasses.field(default_factory=SolverConfig)
    units: Units = "sum"
    gate: Gate = "unit"

    def validate(self) -> None:
        defaults = FlowConfig()
        for name in _NF_ONLY if self.kind == "cnf" else _CNF_ONLY:
            if getattr(self, name) != getattr(defaults, name):
                raise ValueError(f"{name} applies to kind "
                                 f"{'nf' if self.kind == 'cnf' else 'cnf'!r} only; remove it")
        if self.noise != defaults.noise and self.trace != "hutchinson":
            raise ValueError("noise applies to trace 'hutchinson' only; remove it")


def build_flow(cfg: FlowConfig) -> Flow:
    """The model named by ``cfg.kind``."""
    if cfg.kind == "cnf":
        return PlanarCNF(cfg.dim, cfg.width, cfg.hidden, t1=cfg.t1, base_std=cfg.base_std,
                         solver=cfg.solver, trace=cfg.trace, noise=cfg.noise, units=cfg.units,
                         gate=cfg.gate)
    return PlanarNF(cfg.dim, cfg.width, base_std=cfg.base_std, direction=cfg.direction)


def nll_loss(model: Flow, x: Tensor) -> tuple[Tensor, dict[str, float]]:
    """Maximum likelihood (paper sec. 4.1): loss = -E_data[log q(x)], x (B, D)."""
    nll = -model.log_prob(x).mean()
    return nll, {"nll": nll.item()}


def kl_loss(model: Flow, z0: Tensor, energy: Callable[[Tensor], Tensor], beta: float = 1.0
            ) -> tuple[Tensor, dict[str, float]]:
    """Density matching (paper sec. 4.1): KL(q || p) - log Z = E_z0[log q(x) + U(x)],
    x = flow(z0), z0 (B, D) from the base, p = exp(-U) / Z. ``beta`` < 1 weights U as
    in Rezende & Mohamed's annealed free energy; the logged ``kl`` always uses 1."""
    x, logq = model.sample_with_log_prob(z0)
    u = energy(x)  # (B,)
    kl = (logq + u).mean()
    loss = kl if beta == 1.0 else (logq + beta * u).mean()
    return loss, {"kl": kl.item(), "log_q": logq.mean().item(), "energy": u.mean().item()}
