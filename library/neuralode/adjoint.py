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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ._checks import check_captured, check_inputs, tolerances, unique_params
from ._common import (
    ODEFunc,
    checked_call,
    flat_func,
    make_checked_solver,
    state_segments,
    time_vector_field,
)
from .solvers.base import Segment, Segments, Solver, SolverError, StepCounts
from .stats import SolverStats, new_call_stats

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
    solver: Solver
    back_solver: Solver
    rtol: float
    atol: float
    back_rtol: float
    back_atol: float
    seminorm: bool
    norm: str  # "rms" or "sample", both passes (see neuralode.odeint)
    segments: Segments | None  # the forward solve's error-norm segments, from norm
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
                fz = checked_call(self.func, tt, z, counts.nfe)
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
                                              atol=prob.atol, counts=counts,
                                              segments=prob.segments)
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
        segments = state_segments(prob.norm, shape, blocks=2) + (
            [] if prob.seminorm or n_params == 0 else [Segment(2 * n, 2 * n + n_params)])
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


def odeint_adjoint(func: ODEFunc, y0: Tensor, t: Tensor, *, method: str = "dopri5",
                   rtol: float = 1e-7, atol: float = 1e-9,
                   options: dict[str, Any] | None = None,
                   adjoint_params: Iterable[Tensor] | None = None,
                   adjoint_rtol: float | None = None, adjoint_atol: float | None = None,
                   adjoint_method: str | None = None,
                   adjoint_options: dict[str, Any] | None = None,
                   seminorm: bool = False, norm: str = "rms",
                   stats: SolverStats | None = None) -> Tensor:
    """Like :func:`odeint`, with gradients by the adjoint method (paper sec. 2, Alg. 1).

    The forward solve keeps no graph. The backward pass integrates the augmented
    state [z, a, a_theta] from t[-1] to t[0], one output interval at a time, adding
    dL/dz(t_i) to a at each output time, so memory does not grow with the number of
    solver steps. Parameter gradients are vector-Jacobian products summed over the
    batch by autograd (never a per-sample Jacobian). First-order only: a backward
    with ``create_graph=True`` raises (use :func:`odeint` for double backward).

    Args (beyond :func:`odeint`):
        adjoint_params: tensors to differentiate (each once, repeats ignored); default
            ``func.parameters()`` when ``func`` is an ``nn.Module``, else none. Every
            tensor requiring grad that ``func`` uses must be here (non-leaf tensors
            allowed: their gradient flows on into their graph); otherwise the
            backward raises rather than silently dropping its gradient.
        adjoint_rtol, adjoint_atol, adjoint_method, adjoint_options: backward-solve
            settings; default to the forward ones.
        seminorm: leave a_theta out of the backward error norm (Kidger, Chen, Lyons
            2021, "Hey, that's not an ODE"), which usually saves backward steps.
        norm: as in :func:`odeint`, for both passes; with ``"sample"`` the backward
            norms z and a per sample (a_theta, shared by the batch, stays one RMS).

    ``max_num_steps`` (in ``options``) bounds the accepted + rejected steps of the
    forward solve over all of ``t``; in ``adjoint_options`` (default: ``options``) it
    bounds the backward solve of each output interval [t_i, t_{i-1}] separately, so
    many output times do not exhaust it.
    """
    ts = check_inputs(y0, t)
    rtol, atol = tolerances(rtol, atol)
    back_rtol, back_atol = tolerances(rtol if adjoint_rtol is None else adjoint_rtol,
                                      atol if adjoint_atol is None else adjoint_atol,
                                      prefix="adjoint_")
    params = unique_params(adjoint_params, func)
    problem = AdjointSolve(
        func=func, ts=ts,
        solver=make_checked_solver(method, options, y0.dtype, rtol, atol),
        back_solver=make_checked_solver(
            adjoint_method or method, options if adjoint_options is None else adjoint_options,
            y0.dtype, back_rtol, back_atol, prefix="adjoint_",
            inherited=dict(options or {}) if adjoint_options is None and options else None),
        rtol=rtol, atol=atol, back_rtol=back_rtol, back_atol=back_atol,
        seminorm=seminorm, norm=norm, segments=state_segments(norm, y0.shape),
        stats=new_call_stats(stats),
        # nothing differentiable goes in, so no backward will run to check func's graph:
        # check it on the forward's first evaluation instead
        check_forward=torch.is_grad_enabled() and not (
            y0.requires_grad or t.requires_grad or params))
    return problem.apply(y0, t, *params)
