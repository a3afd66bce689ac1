"""The one loop of every adaptive solver, after diffrax's split of solver, step-size
controller and driver loop (Kidger, "On Neural Differential Equations", 2021).

The driver owns what every adaptive solve does alike: the step budget and the
step-size floor (:func:`check_step`), landing the last step on ``t[-1]``, counting
accepted and rejected steps, and reading every output time from the accepted step
that covers it (dense output, so output times never shorten a step). A method
supplies the rest through two interfaces:

* a :class:`Stepper`, the per-solve state of the method: try a step, take it, and
  interpolate inside it;
* a :data:`Control`, the step-size controller seen from the driver: the next step
  size after a trial (:mod:`~neuralode.solvers.control` makes them).

Also here: the starting step (Hairer, Norsett & Wanner I, sec. II.4) the methods share.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import Tensor

from .base import REMEDY, FlatFunc, Segments, SolverError, StepCounts, rms_norm

# (h, dt, err, accepted) -> the next step size: h the step the driver asked for, dt
# the signed step tried (shorter than h on the last step), err its scaled error norm.
Control = Callable[[float, float, float, bool], float]


class Stepper(Protocol):
    """One solve of an adaptive method, step by step. The driver calls, per step,
    ``trial``; then, if the step is accepted, ``accept``, ``dense`` for each output
    time inside it, and ``advance``."""

    def trial(self, t: float, y: Tensor, dt: float, t1: float) -> float:
        """Try the step from (t, y) to t1 = t + dt; return its scaled error norm
        (the step is accepted when it is <= 1; nan rejects it)."""

    def accept(self) -> Tensor:
        """Take the tried step: return the state at t1 (may raise SolverError)."""

    def dense(self, t_out: float) -> Tensor:
        """The state at ``t_out`` in (t, t1] of the accepted step."""

    def advance(self) -> None:
        """After the outputs: the accepted step becomes the past of the next one."""


def drive(name: str, stepper: Stepper, control: Control, y0: Tensor, ts: Sequence[float],
          h: float, *, counts: StepCounts, max_num_steps: int) -> tuple[list[Tensor], float]:
    """Integrate from (ts[0], y0) with first step ``h`` through every time of ``ts``:
    the :meth:`~neuralode.solvers.base.Solver.integrate` of an adaptive method,
    returning ``(ys, h)`` with ``h`` the step the method would take next."""
    t0, t_end = ts[0], ts[-1]
    direction = 1.0 if t_end >= t0 else -1.0
    t, y = t0, y0
    ys, i_out = [y0], 1
    while i_out < len(ts):
        check_step(name, max_num_steps, t, h, counts, t0, t_end)
        last = abs(t_end - t) <= h * (1 + 1e-12)
        dt = (t_end - t) if last else direction * h
        t1 = t_end if last else t + dt
        err = stepper.trial(t, y, dt, t1)
        accepted = err <= 1.0  # False for nan
        h = control(h, dt, err, accepted)
        if not accepted:
            counts.rejected += 1
            continue
        counts.accepted += 1
        y1 = stepper.accept()
        while i_out < len(ts) and (last or direction * (ts[i_out] - t1) <= 0):
            ys.append(y1 if last and i_out == len(ts) - 1 else stepper.dense(ts[i_out]))
            i_out += 1
        stepper.advance()
        t, y = t1, y1
    return ys, h


def initial_step(f: FlatFunc, t0: float, y0: Tensor, f0: Tensor, direction: float,
                 rtol: float, atol: float, segments: Segments | None, q: int) -> float:
    """The starting step of Hairer, Norsett & Wanner I, sec. II.4, for a method whose
    local error is O(h^q) (q = order + 1); one evaluation of ``f``."""
    scale = atol + rtol * y0.abs()
    d0, d1 = rms_norm(y0 / scale, segments), rms_norm(f0 / scale, segments)
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    f1 = f(t0 + direction * h0, torch.add(y0, f0, alpha=direction * h0))
    d2 = rms_norm((f1 - f0) / scale, segments) / h0
    dmax = max(d1, d2)
    h1 = max(1e-6, h0 * 1e-3) if dmax <= 1e-15 else (0.01 / dmax) ** (1 / q)
    return min(100 * h0, h1)


def first_step_of(name: str, f: FlatFunc, y0: Tensor, t0: float, t_end: float, *,
                  rtol: float, atol: float, segments: Segments | None, q: int,
                  hint: float | None) -> tuple[Tensor, float]:
    """``f(t0, y0)`` (checked finite) and the first step: ``hint`` if given, else
    :func:`initial_step`; never longer than the span."""
    f0 = f(t0, y0)
    if not bool(torch.isfinite(f0).all() & torch.isfinite(y0).all()):
        raise SolverError(f"{name}: non-finite state or derivative at t={t0:.6g} "
                          f"before the first step. {REMEDY}")
    h = hint
    if h is None:
        direction = 1.0 if t_end >= t0 else -1.0
        with torch.no_grad():
            h = initial_step(f, t0, y0, f0, direction, rtol, atol, segments, q)
    span = abs(t_end - t0)
    return f0, (min(h, span) if span > 0 else h)


def check_step(name: str, max_num_steps: int, t: float, h: float, counts: StepCounts,
               t0: float, t_end: float) -> None:
    """Raise rather than loop forever: a step budget and a step-size floor."""
    where = f"at t={t:.6g} (dt={h:.3g}, accepted={counts.accepted}, rejected={counts.rejected})"
    if counts.accepted + counts.rejected >= max_num_steps:
        raise SolverError(f"{name}: max_num_steps={max_num_steps} exceeded {where}; it "
                          "bounds the accepted + rejected steps of one solve over "
                          f"[{t0:.6g}, {t_end:.6g}]. {REMEDY}")
    floor = 4 * math.ulp(max(abs(t), 1.0))
    # a step below the floor is fine when it ends the solve (a span shorter than the
    # floor, e.g. t=[0, 1e-20]): only a solve that would go on with such steps stalls
    if not (h >= floor or abs(t_end - t) <= h):  # also catches nan
        span = abs(t_end - t0)
        note = (f"; the span [{t0:.6g}, {t_end:.6g}] is itself below the time resolution "
                f"({floor:.3g}) and its one step was rejected" if span < floor else "")
        raise SolverError(f"{name}: step size underflow {where}; the state may be "
                          f"non-finite or stiff{note}. {REMEDY}")
