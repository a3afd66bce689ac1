"""``odeint``: backprop through the solver's operations (the paper's RK-Net). Its
adjoint counterpart, ``odeint_adjoint``, lives in :mod:`neuralode.adjoint`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._checks import check_inputs, tolerances
from ._common import ODEFunc, checked_call, flat_func, make_checked_solver, state_segments
from .solvers.base import StepCounts
from .stats import SolverStats, new_call_stats


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

    def evaluate(times: Tensor, states: Tensor) -> Tensor:  # (k, *shape)
        out = [checked_call(func, ti, yi, counts.nfe + i + 1)
               for i, (ti, yi) in enumerate(zip(times, states, strict=True))]
        counts.nfe += len(out)
        return torch.stack(out)

    with torch.no_grad():
        field = evaluate(t_ref, ys)
    h = (sign * (t - t_ref)).view(-1, *([1] * (ys.dim() - 1)))  # (k, 1, ...), value 0
    return ys + h * evaluate((t + t_ref) / 2, ys + h / 2 * field)


def odeint(func: ODEFunc, y0: Tensor, t: Tensor, *, method: str = "dopri5",
           rtol: float = 1e-7, atol: float = 1e-9, options: dict[str, Any] | None = None,
           norm: str = "rms", stats: SolverStats | None = None) -> Tensor:
    """Solve dy/dt = func(t, y), y(t[0]) = y0, and return y at every time in ``t``.

    Args:
        func: ``func(t, y)`` with t a 0-d tensor and y shaped like ``y0``; returns a
            tensor of y's shape, dtype and device (checked on every evaluation).
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
        norm: the error norm of adaptive methods: ``"rms"``, one RMS over the whole
            state (torchdiffeq's); ``"sample"``, the largest RMS of the samples
            ``y0[i]``, so that one hard sample cannot hide in a batch average (the step
            stays shared by the batch).
        stats: optional :class:`SolverStats` to add this call's counts to (anything
            else raises ``TypeError`` before the solve).

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
    segments = state_segments(norm, y0.shape)
    call = new_call_stats(stats)
    counts = StepCounts()
    f = flat_func(func, y0.shape, y0, counts)
    time_grad = t.requires_grad and torch.is_grad_enabled()
    # t in the state's dtype/device (differentiably) for func's time argument
    tt = t.to(dtype=y0.dtype, device=y0.device) if time_grad else t
    try:
        start = _time_shift(func, -1.0, tt[:1], y0[None], counts)[0] if time_grad else y0
        ys, _ = solver.integrate(f, start.reshape(-1), ts, rtol=rtol, atol=atol, counts=counts,
                                 segments=segments)
        # y(t_0) = y0 whatever t_0 (not ``start``)
        sol = torch.stack([y0.reshape(-1), *ys[1:]]).view(len(ts), *y0.shape)  # (T, *y0.shape)
        if time_grad:
            sol = torch.cat([sol[:1], _time_shift(func, 1.0, tt[1:], sol[1:], counts)])
    finally:  # a failed solve still counts its work
        call.add(nfe_forward=counts.nfe, steps_accepted=counts.accepted,
                 steps_rejected=counts.rejected)
    return sol
