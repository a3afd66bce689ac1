"""Helpers shared by the adaptive solvers (RK and Adams): option parsing, the starting
step and the per-step guards."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from .base import REMEDY, FlatFunc, Segments, SolverError, StepCounts, rms_norm


def parse_options(options: dict[str, Any] | None, spec: dict[str, Any],
                  method: str) -> dict[str, Any]:
    """``spec`` (the defaults) updated by ``options``; unknown keys are errors."""
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict of solver options or None, got "
                        f"{type(options).__name__} {options!r}; e.g. options="
                        f"{{'max_num_steps': 1000}} (valid for {method!r}: {sorted(spec)})")
    options = dict(options or {})
    unknown = sorted(set(options) - set(spec))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for method {method!r}; "
                         f"valid options: {sorted(spec)}")
    return {**spec, **options}


def positive(opts: dict[str, Any], name: str, integer: bool = False) -> None:
    """Check ``opts[name]`` and store it as a Python int/float (numpy scalars allowed)."""
    value = opts[name]
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"option {name!r} must be a positive {'integer' if integer else 'number'}"
                         f", got {value!r}")
    opts[name] = int(value) if integer else float(value)


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
