"""The adjoint sensitivity method (paper sec. 2, Algorithm 1; Pontryagin et al. 1962).

For L(z(t_1), ..., z(t_N)) with dz/dt = f(z, t, theta), the adjoint a(t) = dL/dz(t)
obeys da/dt = -a^T df/dz, and dL/dtheta = -int_{t_N}^{t_0} a^T df/dtheta dt. The
backward pass solves the augmented system

    d/dt [z, a, a_theta] = [f, -a^T df/dz, -a^T df/dtheta]

from t_N down to t_0, one output interval at a time, restarting z from the stored
forward output and adding dL/dz(t_i) to a at every output time. Time gradients
need no extra integral: dL/dt_i = g_i . f(t_i, z_i) for i >= 1, and
dL/dt_0 = -(a(t_0) - g_0) . f(t_0, z_0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ._checks import check_captured
from .odeint import ODEFunc, flat_func, time_vector_field
from .solvers.base import SolverError, StepCounts
from .stats import SolverStats

DOUBLE_BACKWARD = (
    "odeint_adjoint does not support higher-order gradients (a backward with "
    "create_graph=True, e.g. a gradient penalty): its backward pass is an ODE solve "
    "without an autograd graph, so they would silently be first-order. Use odeint "
    "(direct backprop through the solver) for double backward.")


@dataclass
class AdjointSolve:
    """Everything the autograd function needs besides tensors."""

    func: ODEFunc
    ts: list[float]
    solver: Any
    back_solver: Any
    rtol: float
    atol: float
    back_rtol: float
    back_atol: float
    seminorm: bool
    stats: SolverStats
    check_forward: bool = False  # check func's graph in the forward (see odeint_adjoint)

    def apply(self, y0: Tensor, t: Tensor, *params: Tensor) -> Tensor:
        return _AdjointFunction.apply(self, y0, t, *params)

    def augmented(self, shape: torch.Size, params: tuple[Tensor, ...], counts: StepCounts):
        """The flat augmented dynamics [z, a, a_theta] -> [f, -a f_z, -a f_theta]."""
        n = math.prod(shape)
        checked = False

        def f(t: float, aug: Tensor) -> Tensor:
            nonlocal checked
            counts.nfe += 1
            with torch.enable_grad():
                z = aug[:n].view(shape).detach().requires_grad_(True)
                a = aug[n:2 * n].view(shape)
                tt = torch.scalar_tensor(t, dtype=aug.dtype, device=aug.device)
                fz = self.func(tt, z)
                if not checked:  # once per backward: the graph of f w.r.t. z exists anyway
                    check_captured(fz, z, params)
                    checked = True
                # f may ignore z and theta entirely (e.g. a constant field).
                # retain_graph: a param may enter through a tensor computed before the
                # solve (W = A @ B outside func), whose graph every evaluation reuses.
                vjps = torch.autograd.grad(fz, (z, *params), grad_outputs=-a,
                                           allow_unused=True, retain_graph=True) \
                    if fz.requires_grad else (None,) * (1 + len(params))
            parts = [fz.detach().reshape(-1)]
            for v, ref in zip(vjps, (z, *params), strict=True):
                parts.append(torch.zeros(ref.numel(), dtype=aug.dtype, device=aug.device)
                             if v is None else v.reshape(-1))
            return torch.cat(parts)  # (2n + P,)

        return f


class _AdjointFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, prob: AdjointSolve, y0: Tensor, t: Tensor, *params: Tensor
                ) -> Tensor:
        counts = StepCounts()
        try:
            with torch.no_grad():
                f = flat_func(prob.func, y0.shape, y0, counts, check_graph=prob.check_forward)
                ys, _ = prob.solver.integrate(f, y0.reshape(-1), prob.ts, rtol=prob.rtol,
                                              atol=prob.atol, counts=counts)
                sol = torch.stack(ys).view(len(prob.ts), *y0.shape)  # (T, *y0.shape)
        finally:  # a failed solve still counts its work
            prob.stats.add(nfe_forward=counts.nfe, steps_accepted=counts.accepted,
                           steps_rejected=counts.rejected)
        ctx.prob = prob
        ctx.save_for_backward(t, sol, *params)
        return sol

    @staticmethod
    def backward(ctx: Any, grad_sol: Tensor) -> tuple[Tensor | None, ...]:
        if torch.is_grad_enabled():  # autograd enables grad in backward iff create_graph
            raise RuntimeError(DOUBLE_BACKWARD)
        prob: AdjointSolve = ctx.prob
        t, sol, *params = ctx.saved_tensors
        params = tuple(params)
        shape, ts = sol.shape[1:], prob.ts
        n = math.prod(shape)
        n_params = sum(p.numel() for p in params)
        total = StepCounts()
        f_aug = prob.augmented(shape, params, total)
        segments = [(0, n), (n, 2 * n)] + ([] if prob.seminorm or n_params == 0
                                           else [(2 * n, 2 * n + n_params)])
        grad = grad_sol.reshape(len(ts), -1)  # (T, n)
        adj_y = grad[-1].clone()
        adj_p = sol.new_zeros(n_params)
        step = None
        try:
            with torch.no_grad():
                for i in range(len(ts) - 1, 0, -1):
                    aug0 = torch.cat([sol[i].reshape(-1), adj_y, adj_p])
                    # each interval is its own solve with its own max_num_steps budget
                    interval = StepCounts()
                    try:
                        out, step = prob.back_solver.integrate(
                            f_aug, aug0, [ts[i], ts[i - 1]], rtol=prob.back_rtol,
                            atol=prob.back_atol, counts=interval, segments=segments,
                            first_step=step)
                    except SolverError as e:
                        raise SolverError(
                            f"odeint_adjoint backward pass, output interval {len(ts) - i} of "
                            f"{len(ts) - 1} (t={ts[i]:.6g} -> {ts[i - 1]:.6g}; the budget "
                            f"of adjoint_options' max_num_steps applies per interval): {e}"
                        ) from e
                    finally:
                        total.accepted += interval.accepted
                        total.rejected += interval.rejected
                    adj_y = out[-1][n:2 * n] + grad[i - 1]
                    adj_p = out[-1][2 * n:]

            grad_t = None
            if ctx.needs_input_grad[2]:
                fields = time_vector_field(prob.func, t, sol, total).reshape(len(ts), -1)
                grad_t = (grad * fields).sum(dim=1)  # (T,)
                grad_t[0] = -((adj_y - grad[0]) * fields[0]).sum()
        finally:  # a failed backward still counts its work
            prob.stats.add(nfe_backward=total.nfe, backward_steps_accepted=total.accepted,
                           backward_steps_rejected=total.rejected)

        grad_params, offset = [], 0
        for p in params:
            grad_params.append(adj_p[offset:offset + p.numel()].view_as(p))
            offset += p.numel()
        return (None, adj_y.view(shape), grad_t, *grad_params)
