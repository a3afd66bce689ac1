"""Public entry points: ``odeint`` (backprop through the solver; the paper's RK-Net)
and ``odeint_adjoint`` (the adjoint method, paper sec. 2 and Algorithm 1)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from ._checks import (
    check_captured,
    check_inputs,
    check_output,
    check_precision,
    tolerances,
    unique_params,
)
from .solvers import make_solver
from .solvers.base import StepCounts
from .stats import SolverStats, new_call_stats

ODEFunc = Callable[[Tensor, Tensor], Tensor]


def make_checked_solver(method: str, options: dict[str, Any] | None, dtype: torch.dtype,
                        rtol: float, atol: float, prefix: str = "") -> Any:
    """The solver for ``method``; adaptive ones also check the tolerances against the
    state's dtype (a fixed grid ignores rtol/atol)."""
    solver = make_solver(method, options)
    if solver.tableau.adaptive:
        check_precision(dtype, rtol, atol, prefix)
    return solver


def flat_func(func: ODEFunc, shape: torch.Size, like: Tensor, counts: StepCounts,
              check_graph: bool = False) -> Callable[[float, Tensor], Tensor]:
    """Wrap ``func(t, y)`` as a counted function of (float, flat tensor).

    The first call checks what ``func`` returns; with ``check_graph`` it runs with
    autograd on and raises if the output depends on a tensor requiring grad (a
    gradient that the adjoint would lose), at no extra evaluation.
    """

    dtype, device, view = like.dtype, like.device, tuple(shape)
    checked = False

    def f(t: float, y: Tensor) -> Tensor:
        nonlocal checked
        counts.nfe += 1
        tt = torch.scalar_tensor(t, dtype=dtype, device=device)
        if checked:
            return func(tt, y.view(view)).reshape(-1)
        # once: type, shape, dtype and device cannot change within a solve
        state = y.view(view)
        with torch.set_grad_enabled(check_graph or torch.is_grad_enabled()):
            out = func(tt, state)
        check_output(out, shape, dtype, device)
        if check_graph:
            check_captured(out, state, ())
            out = out.detach()
        checked = True
        return out.reshape(-1)

    return f


def time_vector_field(func: ODEFunc, t: Tensor, ys: Tensor, counts: StepCounts) -> Tensor:
    """f(t_i, y_i) at every output time, without graph, counted as NFE: the adjoint's
    time gradients."""
    with torch.no_grad():
        out = torch.stack([func(ti, yi) for ti, yi in zip(t, ys, strict=True)])
    counts.nfe += len(t)
    return out


def _time_shift(func: ODEFunc, sign: float, t: Tensor, ys: Tensor, counts: StepCounts
                ) -> Tensor:
    """States ys (k, *shape) at solver times t* = t.detach() (k,), as differentiable
    functions of t: the flow from t* to t (sign +1, output times) or from t to t*
    (sign -1, the initial time), over the zero duration h = sign * (t - t*).

    The solver's graph has no t in it (it steps in Python floats), so this supplies
    t's gradient: the value is ys, dy_i/dt_i = f(t_i, y_i) and dy(t_j)/dt_0 =
    -J_j f(t_0, y_0). It is the zero-length midpoint step y + h f(m, y + h/2 F)
    (m = (t + t*)/2, F = f(t*, y) without graph), which agrees with the flow to
    second order in h, so second derivatives are exact as well: d2y/dt2 = f_t + f_y f,
    and d/dtheta (dy/dt) = f_theta + f_y dy/dtheta. Third derivatives in t are not.
    """
    t_ref = t.detach()
    with torch.no_grad():
        field = torch.stack([func(ti, yi) for ti, yi in zip(t_ref, ys, strict=True)])
    h = (sign * (t - t_ref)).view(-1, *([1] * (ys.dim() - 1)))  # (k, 1, ...), value 0
    mids = ((t + t_ref) / 2, ys + h / 2 * field)
    slope = torch.stack([func(ti, yi) for ti, yi in zip(*mids, strict=True)])
    counts.nfe += 2 * len(t)
    return ys + h * slope


def odeint(func: ODEFunc, y0: Tensor, t: Tensor, *, method: str = "dopri5",
           rtol: float = 1e-7, atol: float = 1e-9, options: dict[str, Any] | None = None,
           stats: SolverStats | None = None) -> Tensor:
    """Solve dy/dt = func(t, y), y(t[0]) = y0, and return y at every time in ``t``.

    Args:
        func: ``func(t, y)`` with t a 0-d tensor and y shaped like ``y0``; returns a
            tensor of y's shape, dtype and device.
        y0: initial state, any shape, e.g. (B, D) or (B, C, H, W).
        t: 1-D strictly monotone finite output times; t[0] is the initial time.
        method: one of ``neuralode.SOLVERS``.
        rtol, atol: error tolerances of adaptive methods (real numbers, numpy scalars
            included). A float16/bfloat16 state needs rtol >= its unit roundoff
            finfo.eps/2 and atol >= finfo.tiny, e.g. ``rtol=1e-2, atol=1e-4``.
        options: solver options (``step_size`` for fixed grids; ``first_step``,
            ``max_num_steps``, ``controller`` ...). Unknown keys raise ``ValueError``.
            ``max_num_steps`` bounds the accepted + rejected steps of the one solve
            over all of ``t`` (adaptive methods, default 10000; fixed grids count grid
            steps, default 1e6).
        stats: optional :class:`SolverStats` to add this call's counts to.

    Returns:
        Tensor of shape ``(len(t), *y0.shape)``. Gradients w.r.t. y0 and the
        parameters flow through the solver's operations (RK-Net mode), to any order;
        gradients w.r.t. t are those of the exact flow, dL/dt_i = g_i . f(t_i, y_i),
        exact to second order (``create_graph=True``; see ``_time_shift``).

    Raises:
        neuralode.SolverError: when the solve cannot finish.
        TypeError, ValueError: for invalid arguments, naming the argument.
    """
    ts = check_inputs(y0, t)
    rtol, atol = tolerances(rtol, atol)
    solver = make_checked_solver(method, options, y0.dtype, rtol, atol)
    call = new_call_stats(stats)
    counts = StepCounts()
    f = flat_func(func, y0.shape, y0, counts)
    time_grad = t.requires_grad and torch.is_grad_enabled()
    # t in the state's dtype/device (differentiably) for func's time argument
    tt = t.to(dtype=y0.dtype, device=y0.device) if time_grad else t
    try:
        start = _time_shift(func, -1.0, tt[:1], y0[None], counts)[0] if time_grad else y0
        ys, _ = solver.integrate(f, start.reshape(-1), ts, rtol=rtol, atol=atol, counts=counts)
        # y(t_0) = y0 whatever t_0 (not ``start``)
        sol = torch.stack([y0.reshape(-1), *ys[1:]]).view(len(ts), *y0.shape)  # (T, *y0.shape)
        if time_grad:
            sol = torch.cat([sol[:1], _time_shift(func, 1.0, tt[1:], sol[1:], counts)])
    finally:  # a failed solve still counts its work
        call.add(nfe_forward=counts.nfe, steps_accepted=counts.accepted,
                 steps_rejected=counts.rejected)
    return sol


def odeint_adjoint(func: ODEFunc, y0: Tensor, t: Tensor, *, method: str = "dopri5",
                   rtol: float = 1e-7, atol: float = 1e-9,
                   options: dict[str, Any] | None = None,
                   adjoint_params: Iterable[Tensor] | None = None,
                   adjoint_rtol: float | None = None, adjoint_atol: float | None = None,
                   adjoint_method: str | None = None,
                   adjoint_options: dict[str, Any] | None = None,
                   seminorm: bool = False, stats: SolverStats | None = None) -> Tensor:
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

    ``max_num_steps`` (in ``options``) bounds the accepted + rejected steps of the
    forward solve over all of ``t``; in ``adjoint_options`` (default: ``options``) it
    bounds the backward solve of each output interval [t_i, t_{i-1}] separately, so
    many output times do not exhaust it.
    """
    from .adjoint import AdjointSolve  # local: adjoint imports this module

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
            y0.dtype, back_rtol, back_atol, prefix="adjoint_"),
        rtol=rtol, atol=atol, back_rtol=back_rtol, back_atol=back_atol,
        seminorm=seminorm, stats=new_call_stats(stats),
        # nothing differentiable goes in, so no backward will run to check func's graph:
        # check it on the forward's first evaluation instead
        check_forward=torch.is_grad_enabled() and not (
            y0.requires_grad or t.requires_grad or params))
    return problem.apply(y0, t, *params)


def solve(func: ODEFunc, y0: Tensor, t: Tensor, cfg: Any) -> Tensor:
    """Solve with a :class:`neuralode.config.SolverConfig`: ``odeint_adjoint`` when
    ``cfg.adjoint`` (ODE-Net), else ``odeint`` (RK-Net)."""
    kwargs = cfg.kwargs()
    return odeint_adjoint(func, y0, t, **kwargs) if cfg.adjoint else odeint(func, y0, t, **kwargs)
