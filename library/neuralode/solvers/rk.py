"""Explicit Runge-Kutta solvers: one fixed-grid and one adaptive class, each driven
by a :class:`~neuralode.solvers.tableau.ButcherTableau`.

Both implement the :class:`~neuralode.solvers.base.Solver` protocol: flat 1-D states
and Python-float times; ``neuralode.odeint`` reshapes the user's state and wraps the
user's function. Both take their steps with the one
:func:`~neuralode.solvers.stages.rk_step`, its stages in the layout this module picks
by state size (a list from ``LARGE_STATE`` entries on, a matrix below); the adaptive
one runs in the one driver loop (:mod:`~neuralode.solvers.driver`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .base import (
    REMEDY,
    FlatFunc,
    Segments,
    SolverError,
    StepCounts,
    hermite,
    parse_options,
    positive,
)
from .compiled import compiled, compiled_first_step
from .control import from_options
from .driver import drive, first_step_of
from .stages import BufferStages, Coeffs, ListStages, StackedStages, combine, last_stage, rk_step
from .tableau import ButcherTableau

# States of at least this many entries keep their stages as a list (see
# neuralode.solvers.stages). Measured on an ODE-Net training step (B=128, 64x7x7 =
# 401,408 entries): the column buffer's strided copies and addmv took ~8% of the step.
LARGE_STATE = 65_536


def _buffer(co: Coeffs, y0: Tensor) -> BufferStages | None:
    """The reusable stage matrix of a small state; None for a large one (list layout)."""
    return BufferStages(co, y0) if y0.numel() < LARGE_STATE else None


def _layout(co: Coeffs, y: Tensor, buf: BufferStages | None) -> ListStages:
    """This step's layout: a list for a large state; for a small one the reused matrix
    ``buf``, or, with autograd (in-place writes would break backprop), a fresh one."""
    if y.numel() >= LARGE_STATE:
        return ListStages(co)
    if buf is None or torch.is_grad_enabled():
        return StackedStages(co)
    return buf


class FixedGridSolver:
    """Fixed-step RK on the uniform grid t0, t0 + h, ..., with the last step ending at
    t[-1] (as torchdiffeq). Outputs between grid points come from the cubic Hermite
    interpolant through the two neighbouring grid points (:func:`~.base.hermite`),
    O(h^4) accurate, so output times never add steps. Without ``step_size`` the grid is
    the output times.
    """

    SPEC: dict[str, Any] = {"step_size": None, "max_num_steps": 1_000_000}
    adaptive = False

    def __init__(self, tableau: ButcherTableau, options: dict[str, Any] | None = None):
        self.tableau, self.name = tableau, tableau.name
        opts = parse_options(options, self.SPEC, tableau.name)
        if opts["step_size"] is not None:
            positive(opts, "step_size")
        positive(opts, "max_num_steps", integer=True)
        self.step_size: float | None = opts["step_size"]
        self.max_num_steps: int = opts["max_num_steps"]

    def grid(self, ts: Sequence[float]) -> list[float]:
        if not self.step_size:
            return list(ts)
        t0, t1 = ts[0], ts[-1]
        h = math.copysign(self.step_size, t1 - t0)
        n = math.ceil(abs(t1 - t0) / self.step_size - 1e-9)
        if n > self.max_num_steps:
            raise SolverError(f"{self.tableau.name}: step_size={self.step_size} needs {n} "
                              f"steps on [{t0}, {t1}], over max_num_steps="
                              f"{self.max_num_steps} (the bound on the grid steps of one "
                              "solve). Raise step_size or max_num_steps.")
        return [t0 + k * h for k in range(n)] + [t1]

    def integrate(self, f: FlatFunc, y0: Tensor, ts: Sequence[float], *, rtol: float,
                  atol: float, counts: StepCounts,
                  segments: Segments | None = None,
                  first_step: float | None = None) -> tuple[list[Tensor], float | None]:
        del rtol, atol, segments, first_step  # a fixed grid has no error control
        tab, co = self.tableau, Coeffs(self.tableau, y0)
        grid = self.grid(ts)
        direction = 1.0 if ts[-1] >= ts[0] else -1.0
        ys, y, k0 = [y0], y0, f(ts[0], y0)
        buf = _buffer(co, y0)
        i_out = 1
        for j, (ta, tb) in enumerate(zip(grid[:-1], grid[1:], strict=True)):
            h = tb - ta
            y1, _, _ = rk_step(f, _layout(co, y, buf), ta, y, h, k0)
            counts.accepted += 1
            last = j == len(grid) - 2
            k1 = None if last else f(tb, y1)  # the next step's first stage
            while i_out < len(ts) and (last or direction * (ts[i_out] - tb) <= 0):
                theta = (ts[i_out] - ta) / h
                if abs(1.0 - theta) < 1e-9 or last and i_out == len(ts) - 1:
                    ys.append(y1)
                else:
                    if k1 is None:
                        k1 = f(tb, y1)
                    ys.append(hermite(y, y1, k0, k1, h, theta))
                if not bool(torch.isfinite(ys[-1]).all()):
                    raise SolverError(f"{tab.name}: non-finite state at t={ts[i_out]} "
                                      f"(dt={h}, steps={counts.accepted}). {REMEDY}")
                i_out += 1
            y, k0 = y1, k1
        return ys, None


class AdaptiveSolver:
    """Embedded RK pair with error control and dense output (Hairer et al., sec. II.4-6).

    * initial step: Hairer's algorithm (sec. II.4), unless ``first_step`` is given;
    * control: a controller object (:mod:`~neuralode.solvers.control`); the option
      ``controller`` takes ``"I"``, ``"PI"`` or an instance, ``safety``/``ifactor``/
      ``dfactor`` configure the named ones;
    * any embedded pair: with FSAL the last stage is the next step's first; without
      it (Cash-Karp) each accepted step costs one more evaluation, f(t1, y1);
    * dense output: quartic through the step midpoint when the tableau has ``c_mid``
      (dopri5), the cubic Hermite interpolant otherwise, so output times never
      shorten a step;
    * ``compile=True``: each step without autograd is one ``torch.compile``-d call,
      the user's function traced into it (:mod:`~neuralode.solvers.compiled`).
    """

    SPEC: dict[str, Any] = {"first_step": None, "safety": 0.9, "ifactor": 10.0,
                            "dfactor": 0.2, "max_num_steps": 10_000, "controller": "I",
                            "compile": False}
    adaptive = True

    def __init__(self, tableau: ButcherTableau, options: dict[str, Any] | None = None):
        if not tableau.adaptive:
            raise ValueError(f"tableau {tableau.name!r} has no embedded error estimate "
                             "(b_err); use FixedGridSolver")
        self.tableau, self.name = tableau, tableau.name
        opts = parse_options(options, self.SPEC, tableau.name)
        positive(opts, "max_num_steps", integer=True)
        if opts["first_step"] is not None:
            positive(opts, "first_step")
        self.first_step: float | None = opts["first_step"]
        self.max_num_steps: int = opts["max_num_steps"]
        self.controller = from_options(opts, self.SPEC, tableau.name)
        if not isinstance(opts["compile"], bool):
            raise ValueError(f"option 'compile' must be True or False, got {opts['compile']!r}")
        self.compile: bool = opts["compile"]

    def integrate(self, f: FlatFunc, y0: Tensor, ts: Sequence[float], *, rtol: float,
                  atol: float, counts: StepCounts, segments: Segments | None = None,
                  first_step: float | None = None) -> tuple[list[Tensor], float]:
        tab, t0, t_end = self.tableau, ts[0], ts[-1]
        q = tab.error_order + 1  # type: ignore[operator]  # the local error is O(h^q)
        unflat = getattr(f, "unflat", None)
        # the compiled step: opted in, no autograd graph to build, the function known
        step = compiled("step") if self.compile and unflat is not None \
            and not torch.is_grad_enabled() else None
        hint = first_step or self.first_step
        if step is not None and hint is None:
            k0, h = compiled_first_step(self.name, f, y0, t0, t_end, rtol=rtol, atol=atol,
                                        segments=segments, q=q, counts=counts)
        else:
            k0, h = first_step_of(self.name, f, y0, t0, t_end, rtol=rtol, atol=atol,
                                  segments=segments, q=q, hint=hint)
        stepper = _Stepper(tab, f, k0, rtol, atol, segments, counts, step, y0)
        factor = self.controller.start(q)
        return drive(self.name, stepper, lambda h, dt, err, ok: h * factor(err, ok), y0, ts,
                     h, counts=counts, max_num_steps=self.max_num_steps)


class _Stepper:
    """One adaptive RK solve, step by step (the :class:`~neuralode.solvers.driver.Stepper`
    of :class:`AdaptiveSolver`): the eager step, or the compiled one when ``step`` is
    given; FSAL or one more evaluation for the next first stage; dense output."""

    def __init__(self, tab: ButcherTableau, f: FlatFunc, k0: Tensor, rtol: float,
                 atol: float, segments: Segments | None, counts: StepCounts, step: Any,
                 y0: Tensor):
        self.tab, self.f, self.k0, self.step, self.counts = tab, f, k0, step, counts
        self.tol = (rtol, atol, segments)
        # the eager step's tableau tensors and stage buffer (the compiled one has its own)
        self.co = None if step else Coeffs(tab, y0)
        self.buf = None if step else _buffer(self.co, y0)  # type: ignore[arg-type]

    def trial(self, t: float, y: Tensor, dt: float, t1: float) -> float:
        tab, (rtol, atol, segments) = self.tab, self.tol
        if self.step is not None:
            # t and dt as float64 0-d tensors: new values reuse the graph, and the
            # state moves by the very dt that the Python-float time advances by
            y1, K, err_t = self.step(*self.f.unflat, tab, rtol, atol, segments,  # type: ignore[attr-defined]
                                     torch.scalar_tensor(t, dtype=torch.float64), y,
                                     torch.scalar_tensor(dt, dtype=torch.float64), self.k0)
            self.counts.nfe += tab.stages - 1
            err = float(err_t)
        else:
            y1, K, err = rk_step(self.f, _layout(self.co, y, self.buf), t, y, dt,  # type: ignore[arg-type]
                                 self.k0, rtol, atol, segments)
        self.t, self.y, self.dt, self.t1, self.y1, self.K = t, y, dt, t1, y1, K
        return err  # type: ignore[return-value]

    def accept(self) -> Tensor:
        # the next step's first stage: FSAL's last stage (cloned out of the reused
        # buffer), else one more evaluation
        self.k1 = last_stage(self.K) if self.tab.fsal else self.f(self.t1, self.y1)
        return self.y1

    def dense(self, t_out: float) -> Tensor:
        """Quartic through the midpoint with ``c_mid`` (dopri5), else cubic Hermite."""
        y, dt = self.y, self.dt
        theta = (t_out - self.t) / dt
        if theta == 1.0:
            return self.y1
        if self.tab.c_mid is not None:  # one matrix-vector product over the stages
            w_list = self.tab.dense_weights(theta)
            w = torch.tensor(w_list, dtype=y.dtype, device=y.device)
            return combine(y, self.K, w, w_list, dt)
        return hermite(y, self.y1, self.k0, self.k1, dt, theta)

    def advance(self) -> None:
        self.k0 = self.k1
        # the step's start and stages served its outputs: drop them before the next
        # trial computes its stages, so they never count in that step's peak memory
        self.y = self.K = None
