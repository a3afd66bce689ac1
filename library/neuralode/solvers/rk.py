"""Explicit Runge-Kutta solvers: one fixed-grid and one adaptive class, each driven
by a :class:`~neuralode.solvers.tableau.ButcherTableau`.

Both implement the :class:`~neuralode.solvers.base.Solver` protocol: flat 1-D states
and Python-float times; ``neuralode.odeint`` reshapes the user's state and wraps the
user's function. The stages are kept in one of two layouts, by state size:

* small states (< ``LARGE_STATE`` entries): a stage matrix (n, s), each combination
  one ``addmv`` against a tableau row, so a step is a handful of tensor ops whatever
  the number of stages (per-op overhead dominates there);
* large states (e.g. an ODE-Net's (B, C, H, W) block): a list of the stage tensors as
  ``f`` returned them, each combination a chain of ``add(alpha=...)``: no copy of a
  stage into a buffer, and every read contiguous (memory traffic dominates there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ._common import check_step, first_step_of, parse_options, positive
from .base import REMEDY, FlatFunc, Segments, SolverError, StepCounts, hermite, rms_norm
from .compiled import compiled, compiled_first_step
from .control import CONTROLLERS, PIController
from .tableau import ButcherTableau

# States of at least this many entries keep their stages as a list (see the module
# docstring). Measured on an ODE-Net training step (B=128, 64x7x7 = 401,408 entries):
# the column buffer's strided copies and addmv took ~8% of the step.
LARGE_STATE = 65_536

# The stages of one step: a matrix (n, s) for small states, a list of s (n,) tensors
# for large ones.
Stages = Tensor | list[Tensor]


def combine(y: Tensor, K: Stages, w: Tensor, w_list: Sequence[float], h: float) -> Tensor:
    """y + h * sum_j w_j K_j over the stages K (either layout; as many weights as
    stages); ``w`` and ``w_list`` are the same weights as a tensor (for ``addmv``) and
    as floats (for the list)."""
    if isinstance(K, Tensor):
        return torch.addmv(y, K, w, alpha=h)  # (n,)
    out = y
    for wj, kj in zip(w_list, K, strict=True):
        if wj != 0.0:  # a fresh tensor first (y is the caller's), then in place
            out = torch.add(out, kj, alpha=h * wj) if out is y else out.add_(kj, alpha=h * wj)
    return out.clone() if out is y else out


def error_estimate(K: Stages, w: Tensor, w_list: Sequence[float]) -> Tensor:
    """sum_j w_j K_j (the embedded pair's error weights), either layout."""
    if isinstance(K, Tensor):
        return torch.mv(K, w)  # (n,)
    out = None
    for wj, kj in zip(w_list, K, strict=True):
        if wj != 0.0:
            out = torch.mul(kj, wj) if out is None else out.add_(kj, alpha=wj)
    return torch.zeros_like(K[0]) if out is None else out


def last_stage(K: Stages) -> Tensor:
    """The last stage (FSAL's next first stage), as a tensor of its own."""
    return K[-1] if isinstance(K, list) else K[:, -1].clone()


class _Coeffs:
    """Tableau rows as tensors of one dtype/device, built once per solve."""

    def __init__(self, tab: ButcherTableau, like: Tensor):
        def vec(xs: Sequence[float]) -> Tensor:
            return torch.tensor(xs, dtype=like.dtype, device=like.device)

        self.a = [vec(row) if row else None for row in tab.a]
        self.b = vec(tab.b)
        self.b_err = vec(tab.b_err) if tab.b_err is not None else None


class _Buffer:
    """The stage matrix K (n, s), reused across steps, with its views made once."""

    def __init__(self, like: Tensor, stages: int):
        self.K = like.new_empty(like.numel(), stages)
        self.cols = [self.K[:, i] for i in range(stages)]
        self.prefix = [self.K[:, :i] for i in range(stages)]


def _buffer(y0: Tensor, stages: int) -> _Buffer | None:
    """The reusable stage matrix of a small state; None for a large one (list layout)."""
    return _Buffer(y0, stages) if y0.numel() < LARGE_STATE else None


def _stages(f: FlatFunc, tab: ButcherTableau, co: _Coeffs, t: float, y: Tensor, h: float,
            k0: Tensor, buf: _Buffer | None = None) -> tuple[Tensor, Stages]:
    """One RK step from (t, y) with first stage ``k0``. Returns (y1, K): K the stage
    matrix (n, s) of a small state, or the list of stages of a large one (no ``buf``).

    Without autograd, a small state's stages are written into the preallocated ``buf``
    (n, s); with autograd they are stacked afresh, since in-place writes would break
    backprop. A large state's list needs neither.
    """
    y1 = y
    if y.numel() >= LARGE_STATE:
        ks = [k0]
        for i in range(1, tab.stages):
            y1 = combine(y, ks, co.a[i], tab.a[i], h)  # (n,)
            ks.append(f(t + tab.c[i] * h, y1))
        K: Stages = ks
    elif buf is None or torch.is_grad_enabled():
        ks = [k0]
        for i in range(1, tab.stages):
            y1 = torch.addmv(y, torch.stack(ks, dim=1), co.a[i], alpha=h)  # (n,)
            ks.append(f(t + tab.c[i] * h, y1))
        K = torch.stack(ks, dim=1)  # (n, s)
    else:
        K = buf.K
        buf.cols[0].copy_(k0)
        for i in range(1, tab.stages):
            y1 = torch.addmv(y, buf.prefix[i], co.a[i], alpha=h)  # (n,)
            buf.cols[i].copy_(f(t + tab.c[i] * h, y1))
    if not tab.fsal:
        y1 = combine(y, K, co.b, tab.b, h)
    return y1, K


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
        tab, co = self.tableau, _Coeffs(self.tableau, y0)
        grid = self.grid(ts)
        direction = 1.0 if ts[-1] >= ts[0] else -1.0
        ys, y, k0 = [y0], y0, f(ts[0], y0)
        buf = _buffer(y0, tab.stages)
        i_out = 1
        for j, (ta, tb) in enumerate(zip(grid[:-1], grid[1:], strict=True)):
            h = tb - ta
            y1, _ = _stages(f, tab, co, ta, y, h, k0, buf)
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
        self.controller = _controller(opts, tableau.name)
        if not isinstance(opts["compile"], bool):
            raise ValueError(f"option 'compile' must be True or False, got {opts['compile']!r}")
        self.compile: bool = opts["compile"]

    def integrate(self, f: FlatFunc, y0: Tensor, ts: Sequence[float], *, rtol: float,
                  atol: float, counts: StepCounts, segments: Segments | None = None,
                  first_step: float | None = None) -> tuple[list[Tensor], float]:
        tab = self.tableau
        t0, t_end = ts[0], ts[-1]
        direction = 1.0 if t_end >= t0 else -1.0
        # the local error estimate is O(h^q); q = error_order + 1
        step_factor = self.controller.start(tab.error_order + 1)

        t, y = t0, y0
        unflat = getattr(f, "unflat", None)
        # the compiled step: opted in, no autograd graph to build, the function known
        step = compiled("step") if self.compile and unflat is not None \
            and not torch.is_grad_enabled() else None
        hint = first_step or self.first_step
        if step is not None and hint is None:
            k0, h = compiled_first_step(self.name, f, y0, t0, t_end, rtol=rtol, atol=atol,
                                        segments=segments, q=tab.error_order + 1,
                                        counts=counts)
        else:
            k0, h = first_step_of(self.name, f, y0, t0, t_end, rtol=rtol, atol=atol,
                                  segments=segments, q=tab.error_order + 1, hint=hint)
        ys, i_out = [y0], 1
        # the eager step's tableau tensors and stage buffer (the compiled one has its own)
        co, buf = (None, None) if step else (_Coeffs(tab, y0), _buffer(y0, tab.stages))
        while i_out < len(ts):
            check_step(self.name, self.max_num_steps, t, h, counts, t0, t_end)
            last = abs(t_end - t) <= h * (1 + 1e-12)
            dt = (t_end - t) if last else direction * h
            if step is not None:
                # t and dt as float64 0-d tensors: new values reuse the graph, and the
                # state moves by the very dt that the Python-float time advances by
                y1, K, err_t = step(*unflat, tab, rtol, atol, segments,
                                    torch.scalar_tensor(t, dtype=torch.float64), y,
                                    torch.scalar_tensor(dt, dtype=torch.float64), k0)
                counts.nfe += tab.stages - 1
                err = float(err_t)
            else:
                y1, K = _stages(f, tab, co, t, y, dt, k0, buf)
                with torch.no_grad():  # step control is not part of the computation graph
                    scale = torch.maximum(y.abs(), y1.abs()).mul_(rtol).add_(atol)
                    est = error_estimate(K, co.b_err, tab.b_err)  # (n,)
                    err = abs(dt) * rms_norm(est.div_(scale), segments)
            accept = err <= 1.0  # False for nan
            factor = step_factor(err, accept)
            if not accept:
                counts.rejected += 1
                h *= factor
                continue
            counts.accepted += 1
            t1 = t_end if last else t + dt
            # the next step's first stage: FSAL's last stage (cloned out of the reused
            # buffer), else one more evaluation
            k1 = last_stage(K) if tab.fsal else f(t1, y1)
            while i_out < len(ts) and (last or direction * (ts[i_out] - t1) <= 0):
                theta = (ts[i_out] - t) / dt
                if last and i_out == len(ts) - 1 or theta == 1.0:
                    ys.append(y1)
                elif tab.c_mid is not None:  # one matrix-vector product over the stages
                    w_list = tab.dense_weights(theta)
                    w = torch.tensor(w_list, dtype=y.dtype, device=y.device)
                    ys.append(combine(y, K, w, w_list, dt))
                else:
                    ys.append(hermite(y, y1, k0, k1, dt, theta))
                i_out += 1
            t, y, k0 = t1, y1, k1
            h *= factor
        return ys, h


def _controller(opts: dict[str, Any], method: str) -> PIController:
    """The step-size controller from the options: a name with safety/ifactor/dfactor,
    or a controller instance (then those three options must stay at their defaults)."""
    ctl = opts["controller"]
    tuning = {k: opts[k] for k in ("safety", "ifactor", "dfactor")}
    if isinstance(ctl, PIController):
        changed = sorted(k for k, v in tuning.items() if v != AdaptiveSolver.SPEC[k])
        if changed:
            raise ValueError(f"{method}: options {changed} configure a named controller; "
                             f"with a controller instance ({ctl!r}), set them on it instead")
        return ctl
    if not isinstance(ctl, str) or ctl not in CONTROLLERS:
        raise ValueError(f"option 'controller' must be one of {sorted(CONTROLLERS)} or a "
                         f"controller instance (neuralode.solvers.PIController), got {ctl!r}")
    for key in tuning:
        positive(tuning, key)
    return CONTROLLERS[ctl](**tuning)
