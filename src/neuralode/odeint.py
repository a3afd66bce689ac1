"""Public entry points: ``odeint`` (backprop through the solver; the paper's RK-Net)
and ``odeint_adjoint`` (the adjoint method, paper sec. 2 and Algorithm 1)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .solvers import make_solver
from .solvers.base import StepCounts
from .stats import SolverStats, new_call_stats

ODEFunc = Callable[[Tensor, Tensor], Tensor]


def check_inputs(y0: Tensor, t: Tensor, rtol: float, atol: float) -> list[float]:
    """Validate the call and return the output times as Python floats."""
    if not isinstance(y0, Tensor) or not y0.is_floating_point():
        raise TypeError(f"y0 must be a floating-point tensor, got {type(y0).__name__}"
                        + (f" of dtype {y0.dtype}" if isinstance(y0, Tensor) else ""))
    if not isinstance(t, Tensor) or t.dim() != 1 or t.numel() < 2:
        raise ValueError("t must be a 1-D tensor of at least 2 output times, got "
                         f"{tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__}")
    for name, tol in (("rtol", rtol), ("atol", atol)):
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (
                math.isfinite(tol) and tol > 0):
            raise ValueError(f"{name} must be a positive finite number, got {tol!r}")
    if rtol > 1:
        raise ValueError(f"rtol={rtol} is above 1 (100% relative error); use a value in (0, 1]")
    ts = t.detach().tolist()
    diffs = [b - a for a, b in zip(ts[:-1], ts[1:], strict=True)]
    if not (all(d > 0 for d in diffs) or all(d < 0 for d in diffs)):
        raise ValueError(f"t must be strictly increasing or strictly decreasing, got {ts}")
    return ts


def flat_func(func: ODEFunc, shape: torch.Size, like: Tensor, counts: StepCounts
              ) -> Callable[[float, Tensor], Tensor]:
    """Wrap ``func(t, y)`` as a counted function of (float, flat tensor)."""

    dtype, device, view = like.dtype, like.device, tuple(shape)
    checked = False

    def f(t: float, y: Tensor) -> Tensor:
        nonlocal checked
        counts.nfe += 1
        out = func(torch.scalar_tensor(t, dtype=dtype, device=device), y.view(view))
        if not checked:  # once: the shape cannot change between calls of one solve
            if out.shape != shape:
                raise ValueError(f"func(t, y) returned shape {tuple(out.shape)}, "
                                 f"expected the state's shape {tuple(shape)}")
            checked = True
        return out.reshape(-1)

    return f


def time_vector_field(func: ODEFunc, t: Tensor, ys: Tensor, counts: StepCounts) -> Tensor:
    """f(t_i, y_i) at every output time, without graph, counted as NFE: the time
    gradients of both odeint and the adjoint."""
    with torch.no_grad():
        out = torch.stack([func(ti, yi) for ti, yi in zip(t, ys, strict=True)])
    counts.nfe += len(t)
    return out


def odeint(func: ODEFunc, y0: Tensor, t: Tensor, *, method: str = "dopri5",
           rtol: float = 1e-7, atol: float = 1e-9, options: dict[str, Any] | None = None,
           stats: SolverStats | None = None) -> Tensor:
    """Solve dy/dt = func(t, y), y(t[0]) = y0, and return y at every time in ``t``.

    Args:
        func: ``func(t, y)`` with t a 0-d tensor and y shaped like ``y0``.
        y0: initial state, any shape, e.g. (B, D) or (B, C, H, W).
        t: 1-D strictly monotone output times; t[0] is the initial time.
        method: one of ``neuralode.SOLVERS``.
        rtol, atol: error tolerances of adaptive methods.
        options: solver options (``step_size`` for fixed grids; ``first_step``,
            ``max_num_steps``, ``controller`` ...). Unknown keys raise ``ValueError``.
        stats: optional :class:`SolverStats` to add this call's counts to.

    Returns:
        Tensor of shape ``(len(t), *y0.shape)``. Gradients w.r.t. y0 and the
        parameters flow through the solver's operations (RK-Net mode); gradients
        w.r.t. t are those of the exact flow, dL/dt_i = g_i . f(t_i, y_i).

    Raises:
        neuralode.SolverError: when the solve cannot finish.
    """
    ts = check_inputs(y0, t, rtol, atol)
    solver = make_solver(method, options)
    call = new_call_stats(stats)
    counts = StepCounts()
    f = flat_func(func, y0.shape, y0, counts)
    start = y0
    if t.requires_grad:
        # dy(t_j)/dt_0 = -J_j f(t_0, y0): move t_0 into the state with a zero-valued
        # term whose only effect is that gradient.
        with torch.enable_grad():
            start = y0 - (t[0] - t[0].detach()) * func(t[0].detach(), y0).detach()
        counts.nfe += 1
    ys, _ = solver.integrate(f, start.reshape(-1), ts, rtol=rtol, atol=atol, counts=counts)
    sol = torch.stack([y0.reshape(-1), *ys[1:]]).view(len(ts), *y0.shape)  # (T, *y0.shape)
    if t.requires_grad:
        field = time_vector_field(func, t.detach(), sol.detach(), counts)
        dt = (t - t.detach()).view(-1, *([1] * y0.dim()))
        sol = sol + torch.cat([torch.zeros_like(dt[:1]), dt[1:]]) * field
    call.add(nfe_forward=counts.nfe, steps_accepted=counts.accepted,
             steps_rejected=counts.rejected)
    return sol


def odeint_adjoint(func: ODEFunc, y0: Tensor, t: Tensor, *, method: str = "dopri5",
                   rtol: float = 1e-7, atol: float = 1e-9,
                   options: dict[str, Any] | None = None,
                   adjoint_params: tuple[Tensor, ...] | None = None,
                   adjoint_rtol: float | None = None, adjoint_atol: float | None = None,
                   adjoint_method: str | None = None,
                   adjoint_options: dict[str, Any] | None = None,
                   seminorm: bool = False, stats: SolverStats | None = None) -> Tensor:
    """Like :func:`odeint`, with gradients by the adjoint method (paper sec. 2, Alg. 1).

    The forward solve keeps no graph. The backward pass integrates the augmented
    state [z, a, a_theta] from t[-1] to t[0], one output interval at a time, adding
    dL/dz(t_i) to a at each output time, so memory does not grow with the number of
    solver steps. Parameter gradients are vector-Jacobian products summed over the
    batch by autograd (never a per-sample Jacobian).

    Args (beyond :func:`odeint`):
        adjoint_params: tensors to differentiate; default ``func.parameters()``
            when ``func`` is an ``nn.Module``, else none.
        adjoint_rtol, adjoint_atol, adjoint_method, adjoint_options: backward-solve
            settings; default to the forward ones.
        seminorm: leave a_theta out of the backward error norm (Kidger, Chen, Lyons
            2021, "Hey, that's not an ODE"), which usually saves backward steps.
    """
    from .adjoint import AdjointSolve  # local: adjoint imports this module

    ts = check_inputs(y0, t, rtol, atol)
    back_rtol = rtol if adjoint_rtol is None else adjoint_rtol
    back_atol = atol if adjoint_atol is None else adjoint_atol
    check_inputs(y0, t, back_rtol, back_atol)
    if adjoint_params is None:
        adjoint_params = tuple(func.parameters()) if isinstance(func, nn.Module) else ()
    params = tuple(p for p in adjoint_params if p.requires_grad)
    problem = AdjointSolve(
        func=func, ts=ts,
        solver=make_solver(method, options),
        back_solver=make_solver(adjoint_method or method,
                                options if adjoint_options is None else adjoint_options),
        rtol=rtol, atol=atol, back_rtol=back_rtol, back_atol=back_atol,
        seminorm=seminorm, stats=new_call_stats(stats))
    return problem.apply(y0, t, *params)


def solve(func: ODEFunc, y0: Tensor, t: Tensor, cfg: Any) -> Tensor:
    """Solve with a :class:`neuralode.config.SolverConfig`: ``odeint_adjoint`` when
    ``cfg.adjoint`` (ODE-Net), else ``odeint`` (RK-Net)."""
    kwargs = cfg.kwargs()
    return odeint_adjoint(func, y0, t, **kwargs) if cfg.adjoint else odeint(func, y0, t, **kwargs)
