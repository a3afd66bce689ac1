"""Helpers shared by ``odeint`` and ``odeint_adjoint``: the solver with its checks, and
the user's function wrapped as the solvers' flat, counted right-hand side."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._checks import check_captured, check_output, check_precision, evaluation, is_like
from .solvers import make_solver
from .solvers.base import Segment, Solver, StepCounts

ODEFunc = Callable[[Tensor, Tensor], Tensor]
NORMS = ("rms", "sample")


def state_segments(norm: str, shape: torch.Size, blocks: int = 1) -> list[Segment] | None:
    """The error-norm segments of ``blocks`` consecutive flat copies of a state of
    ``shape`` (1 for the solution, 2 for the adjoint's [z, a]).

    ``"rms"``: one RMS over each block (``None`` for a single block: the plain norm).
    ``"sample"``: the largest per-sample RMS, the samples being ``shape[0]``, so the
    shared step is sized for the hardest sample and none ends far above its tolerance
    (as a per-sample controller, e.g. torchode's, would, at one step for all).
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {list(NORMS)}, got {norm!r}: 'rms' is one "
                         "RMS over the state, 'sample' the largest RMS of y0[i]")
    n = math.prod(shape)
    if norm == "sample":
        if len(shape) == 0:
            raise ValueError("norm='sample' needs y0's first dimension to index samples, "
                             "got a 0-d y0; use norm='rms'")
        if n > 0 and shape[0] > 1:
            return [Segment(i * n, (i + 1) * n, shape[0]) for i in range(blocks)]
    return None if blocks == 1 else [Segment(i * n, (i + 1) * n) for i in range(blocks)]


def make_checked_solver(method: str, options: dict[str, Any] | None, dtype: torch.dtype,
                        rtol: float, atol: float, prefix: str = "",
                        inherited: dict[str, Any] | None = None) -> Solver:
    """The solver for ``method``; adaptive ones also check the tolerances against the
    state's dtype (a fixed grid ignores rtol/atol).

    ``prefix`` ``"adjoint_"`` names the backward solve's arguments in errors;
    ``inherited`` is the forward's options when ``adjoint_options`` is None and the
    backward solver received them (then an option it does not take says so)."""
    try:
        solver = make_solver(method, options)
    except (TypeError, ValueError) as err:
        if not prefix:
            raise
        given = (f"None, so it takes the forward's options={inherited!r}"
                 if inherited is not None else repr(options))
        fix = ("; pass the backward solve's own, e.g. adjoint_options={}"
               if inherited is not None else "")
        raise type(err)(f"backward solve ({prefix}method={method!r}, {prefix}options={given}): "
                        f"{err}{fix}") from None
    if solver.adaptive:
        check_precision(dtype, rtol, atol, prefix)
    return solver


def flat_func(func: ODEFunc, shape: torch.Size, like: Tensor, counts: StepCounts,
              check_graph: bool = False) -> Callable[[float, Tensor], Tensor]:
    """Wrap ``func(t, y)`` as a counted function of (float, flat tensor).

    Every evaluation checks that ``func`` returned a tensor of the state's shape, dtype
    and device (a wrong one would be broadcast or cast into the solution silently).
    The first call also runs with autograd on under ``check_graph`` and raises if the
    output depends on a tensor requiring grad (a gradient that the adjoint would
    lose), at no extra evaluation.
    """

    dtype, device, view, size = like.dtype, like.device, tuple(shape), torch.Size(shape)
    checked = False

    def f(t: float, y: Tensor) -> Tensor:
        nonlocal checked
        counts.nfe += 1
        tt = torch.scalar_tensor(t, dtype=dtype, device=device)
        if checked:
            out = func(tt, y.view(view))
            if not is_like(out, size, dtype, device):
                check_output(out, size, dtype, device, evaluation(counts.nfe, t))
            return out.reshape(-1)
        state = y.view(view)
        with torch.set_grad_enabled(check_graph or torch.is_grad_enabled()):
            out = func(tt, state)
        check_output(out, size, dtype, device, evaluation(counts.nfe, t))
        if check_graph:  # once: the graph's make-up does not change within a solve
            check_captured(out, state, ())
            out = out.detach()
        checked = True
        return out.reshape(-1)

    # the user's function and the state's shape, for a solver that traces it into a
    # compiled step (solvers/compiled.py); that solver counts those calls itself
    f.unflat = (func, view)  # type: ignore[attr-defined]
    return f


def checked_call(func: ODEFunc, t: Tensor, y: Tensor, n: int) -> Tensor:
    """``func(t, y)``, checked like every evaluation in :func:`flat_func` (``n``: the
    evaluation's number, for the message)."""
    out = func(t, y)
    if not is_like(out, y.shape, y.dtype, y.device):
        check_output(out, y.shape, y.dtype, y.device, evaluation(n, t))
    return out


def time_vector_field(func: ODEFunc, t: Tensor, ys: Tensor, counts: StepCounts) -> Tensor:
    """f(t_i, y_i) at every output time, without graph, counted as NFE: the adjoint's
    time gradients."""
    with torch.no_grad():
        out = torch.stack([checked_call(func, ti, yi, counts.nfe + i + 1)
                           for i, (ti, yi) in enumerate(zip(t, ys, strict=True))])
    counts.nfe += len(t)
    return out
