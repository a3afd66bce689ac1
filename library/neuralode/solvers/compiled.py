"""An opt-in compiled Runge-Kutta step (``options={"compile": True}``).

For a small state the solver's own work is dozens of tiny tensor ops per step, each
costing more in dispatch than in arithmetic, plus the user's ``nn.Module`` call
overhead. ``torch.compile`` of one whole step, the user's function traced into it,
fuses the stages, the error estimate and its norm into one call per step. The step
is the eager solvers' own :func:`~neuralode.solvers.stages.rk_step`, traced with a
layout of its own (:class:`_Traced`: sums of ``(h w_j) k_j`` and the norm as tensor
ops, which fuse; ``addmv`` and a Python-float norm would not):

* the time and the step size go in as 0-d tensors, so a new step does not recompile;
  rtol, atol, the tableau and the state's shape are constants of the compiled graph
  (a new value compiles once more);
* the step returns ``(y1, K, err)``: the new state, the stage matrix (n, s) that the
  dense output and FSAL read, and the error norm as a 0-d tensor (``None`` for a
  fixed grid);
* it is used only without autograd (inference, ``odeint_adjoint``'s forward pass):
  with autograd on, and for functions the solver cannot see unflattened (the
  adjoint's augmented system, which runs autograd itself), the eager step runs.

The first call pays the compilation (seconds; see benchmarks/results.md) and needs a
C++ compiler for torch's CPU code generation. A Python side effect in the user's
function, such as counting its own calls, is replayed by torch.compile at a high
cost per step: keep such functions on the eager path. The arithmetic is the same up
to rounding (fused kernels sum in another order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from .._checks import check_output, is_like
from .base import REMEDY, Segment, Segments, SolverError, StepCounts
from .stages import rk_step
from .tableau import ButcherTableau


def _combine(y: Tensor | None, ks: Sequence[Tensor], w: Sequence[float], h: Tensor | float
             ) -> Tensor:
    """y + h * sum_j w_j k_j with the zero weights skipped (y None: no base term)."""
    out = y
    for wj, kj in zip(w, ks, strict=False):
        if wj != 0.0:
            term = (h * wj) * kj
            out = term if out is None else out + term
    return out if out is not None else torch.zeros_like(ks[0])


def _norm(x: Tensor, segments: Segments | None) -> Tensor:
    """The RMS norm of :func:`~neuralode.solvers.base.rms_norm`, as a 0-d tensor."""
    if segments is None:
        return x.square().mean().sqrt()
    norms = []
    for seg in segments:
        a, b, rows = Segment(*seg)
        part = x[a:b].view(rows, -1)  # (rows, m)
        norms.append(part.square().mean(dim=1).sqrt().max())
    return torch.stack(norms).max()


def _call(func: Callable[[Tensor, Tensor], Tensor], shape: tuple[int, ...], t: Tensor,
          y: Tensor) -> Tensor:
    """``func(t, y)`` flat, checked like every eager evaluation (the check is on shapes
    and dtypes, constants of the compiled graph: it costs nothing per step)."""
    size = torch.Size(shape)
    out = func(t, y.view(shape))
    if not is_like(out, size, y.dtype, y.device):
        check_output(out, size, y.dtype, y.device, " (in a compiled step)")
    return out.reshape(-1)


class _Traced:
    """The compiled step's layout (see :mod:`~neuralode.solvers.stages`): the stages
    as a list, stacked once at the end for the dense output and FSAL."""

    def __init__(self, tab: ButcherTableau):
        self.tab = tab
        self.rows = (*tab.a, tab.b)  # row s: the weights b of the new state

    def start(self, k0: Tensor) -> None:
        self.ks = [k0]

    def combine(self, y: Tensor, i: int, h: Tensor) -> Tensor:
        return _combine(y, self.ks, self.rows[i], h)

    def push(self, i: int, k: Tensor) -> None:
        self.ks.append(k)

    def finish(self) -> Tensor:
        return torch.stack(self.ks, dim=1)  # (n, s)

    def error(self, y: Tensor, y1: Tensor, K: Tensor, h: Tensor, rtol: float, atol: float,
              segments: Segments | None) -> Tensor:
        scale = torch.maximum(y.abs(), y1.abs()) * rtol + atol
        return h.abs() * _norm(_combine(None, self.ks, self.tab.b_err, 1.0) / scale, segments)


def _step(func: Callable[[Tensor, Tensor], Tensor], shape: tuple[int, ...],
          tab: ButcherTableau, rtol: float, atol: float, segments: Segments | None,
          t: Tensor, y: Tensor, h: Tensor, k0: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
    """One RK step from (t, y) with first stage ``k0``; y and k0 flat (n,), t and h 0-d
    float64 (the user's function gets its time in the state's dtype, as eagerly)."""
    def f(t_i: Tensor, y_i: Tensor) -> Tensor:
        return _call(func, shape, t_i.to(y.dtype), y_i)

    return rk_step(f, _Traced(tab), t, y, h, k0, rtol, atol, segments)  # type: ignore[arg-type,return-value]


def _initial(func: Callable[[Tensor, Tensor], Tensor], shape: tuple[int, ...], rtol: float,
             atol: float, segments: Segments | None, q: int, direction: float, t0: Tensor,
             y0: Tensor, f0: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`~neuralode.solvers.driver.initial_step` (Hairer, Norsett & Wanner I,
    sec. II.4) as tensor ops, its branches as ``where``; also whether y0 and f0 are
    finite. Returns (h, finite), both 0-d."""
    scale = atol + rtol * y0.abs()
    d0, d1 = _norm(y0 / scale, segments), _norm(f0 / scale, segments)
    h0 = torch.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    f1 = _call(func, shape, t0 + direction * h0, y0 + direction * h0 * f0)
    dmax = torch.maximum(d1, _norm((f1 - f0) / scale, segments) / h0)
    h1 = torch.where(dmax <= 1e-15, torch.clamp(h0 * 1e-3, min=1e-6),
                     (0.01 / dmax) ** (1.0 / q))
    finite = torch.isfinite(f0).all() & torch.isfinite(y0).all()
    return torch.minimum(100 * h0, h1), finite


_COMPILED: dict[str, Callable[..., Any]] = {}


def compiled(name: str) -> Callable[..., Any]:
    """The compiled ``"step"`` (:func:`_step`) or ``"initial"`` (:func:`_initial`),
    made on first use, once per process (torch.compile keeps a graph per function,
    shape, tableau and tolerances)."""
    if name not in _COMPILED:
        _COMPILED[name] = torch.compile({"step": _step, "initial": _initial}[name],
                                        dynamic=False)
    return _COMPILED[name]


def compiled_first_step(name: str, f: Callable[[float, Tensor], Tensor], y0: Tensor,
                        t0: float, t_end: float, *, rtol: float, atol: float,
                        segments: Segments | None, q: int, counts: StepCounts
                        ) -> tuple[Tensor, float]:
    """:func:`~neuralode.solvers.driver.first_step_of` with the initial-step
    estimate compiled: ``f(t0, y0)`` stays eager (the solve's first evaluation, with
    its graph check), the rest is one call."""
    k0 = f(t0, y0)
    h, finite = compiled("initial")(
        *f.unflat, rtol, atol, segments, q, 1.0 if t_end >= t0 else -1.0,  # type: ignore[attr-defined]
        torch.scalar_tensor(t0, dtype=y0.dtype, device=y0.device), y0, k0)
    counts.nfe += 1
    if not bool(finite):
        raise SolverError(f"{name}: non-finite state or derivative at t={t0:.6g} "
                          f"before the first step. {REMEDY}")
    span = abs(t_end - t0)
    return k0, (min(float(h), span) if span > 0 else float(h))
