"""``vode_adams``: scipy's VODE in Adams mode as a neuralode solver (the paper's stack).

The paper's experiments integrated with "implicit Adams" through scipy's Fortran codes
(sec. 3 and Figure 3). This wraps ``scipy.integrate.ode("vode", method="adams")``
(Brown, Byrne & Hindmarsh 1989: variable-order Adams-Moulton, orders 1-12, functional
iteration, Nordsieck history) in the :class:`neuralode.solvers.Solver` protocol, so the
pipeline can measure its forward and adjoint NFE (Figure 3) with our adjoint.

Kept in the pipeline, not the library: it needs scipy (the pipeline's ``vode`` extra)
and runs on the CPU in float64, one Python callback per evaluation. It cannot
backpropagate through its steps: use it with ``odeint_adjoint``.

Differences from the library's solvers, stated where they matter:

* VODE's error norm is one weighted RMS norm. ``segments`` are emulated by weights:
  components in no segment (the parameter adjoint under ``seminorm``) get a tolerance
  of 1e100, and each segment's weights are scaled so that the norm is the root-sum-square
  of the per-segment RMS norms: each segment counts whatever its size, the norm is at
  least the library's (their max), and dropping a segment can only loosen it.
* The ``first_step`` hint of the adjoint is ignored: VODE restarts each output interval
  at order 1 with its own initial step, as a fresh scipy solve does. The option
  ``first_step`` is honoured.
* ``max_num_steps`` bounds the steps of the whole solve, as for the library's solvers,
  checked at each output time (VODE's own budget, ``nsteps``, is per output interval).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from neuralode.solvers import SolverError, StepCounts, register_solver
from neuralode.solvers.base import REMEDY, FlatFunc, Segments, parse_options, positive, split_rows

# VODE's istate codes (scipy.integrate.ode.get_return_code) and what they mean
_RETURN = {-1: "excess work done on this call (raise options['max_num_steps'])",
           -2: "excess accuracy requested (tolerances too small)",
           -3: "illegal input", -4: "repeated error test failures (a singularity?)",
           -5: "repeated convergence failures of the functional iteration "
               "(the problem may be stiff)",
           -6: "an error weight became zero (a component vanished with atol = 0)"}


def _scipy_ode() -> Any:
    try:
        from scipy.integrate import ode
    except ImportError as e:  # pragma: no cover - scipy is in the vode extra
        raise ImportError("method 'vode_adams' needs scipy: pip install "
                          "'neuralode-repro[vode]' (or pip install scipy)") from e
    return ode


# an error weight no error reaches (inf would make VODE's iteration test nan)
_UNCONTROLLED = 1e100


def _weights(n: int, rtol: float, atol: float, segments: Segments | None):
    """Per-component (rtol, atol) arrays that make VODE's RMS norm the root-sum-square
    of the per-segment RMS norms; components in no segment are not controlled."""
    import numpy as np

    if segments is None:
        return rtol, atol
    rt, at = np.zeros(n), np.full(n, _UNCONTROLLED)
    for a, b in split_rows(segments):  # a per-sample segment: one range per sample
        scale = math.sqrt((b - a) / n)
        rt[a:b], at[a:b] = rtol * scale, atol * scale
    return rt, at


class VodeAdamsSolver:
    """scipy's VODE, Adams mode (``mf = 10``: no Jacobian), in the Solver protocol.

    Options: ``first_step`` (None: VODE's own), ``max_num_steps`` (10000, the whole
    solve), ``max_order`` (1..12).
    """

    SPEC: dict[str, Any] = {"first_step": None, "max_num_steps": 10_000, "max_order": 12}
    name = "vode_adams"
    adaptive = True

    def __init__(self, options: dict[str, Any] | None = None):
        opts = parse_options(options, self.SPEC, self.name)
        positive(opts, "max_num_steps", integer=True)
        positive(opts, "max_order", integer=True)
        if opts["max_order"] > 12:
            raise ValueError(f"option 'max_order' must be an integer in 1..12, "
                             f"got {opts['max_order']!r}")
        if opts["first_step"] is not None:
            positive(opts, "first_step")
        self.first_step: float | None = opts["first_step"]
        self.max_num_steps: int = opts["max_num_steps"]
        self.max_order: int = opts["max_order"]

    def integrate(self, f: FlatFunc, y0: Tensor, ts: Sequence[float], *, rtol: float,
                  atol: float, counts: StepCounts, segments: Segments | None = None,
                  first_step: float | None = None) -> tuple[list[Tensor], float]:
        import numpy as np

        if torch.is_grad_enabled():  # plain odeint under autograd: refuse silent no-grad
            f0 = f(ts[0], y0)
            if y0.requires_grad or f0.requires_grad:
                raise ValueError("method 'vode_adams' cannot backpropagate through its "
                                 "steps (scipy computes them); use odeint_adjoint, or "
                                 "solve under torch.no_grad()")
        if not bool(torch.isfinite(y0).all()):
            raise SolverError(f"vode_adams: non-finite state at t={ts[0]:.6g} before the "
                              f"first step. {REMEDY}")
        like = dict(dtype=y0.dtype, device=y0.device)
        bad: list[float] = []

        def rhs(t: float, y: np.ndarray) -> np.ndarray:
            if bad:  # VODE cannot be stopped from here: let it finish the call at once
                return np.zeros_like(y)
            dy = f(t, torch.from_numpy(y).to(**like))
            out = dy.detach().to(device="cpu", dtype=torch.float64).numpy()
            if not np.isfinite(out).all():
                bad.append(t)
                return np.zeros_like(y)
            return out

        rt, at = _weights(y0.numel(), rtol, atol, segments)
        r = _scipy_ode()(rhs)
        # nsteps is VODE's per-call budget; the whole solve's is checked after each call
        r.set_integrator("vode", method="adams", rtol=rt, atol=at, order=self.max_order,
                         nsteps=self.max_num_steps, first_step=self.first_step or 0.0)
        r.set_initial_value(y0.detach().to(device="cpu", dtype=torch.float64).numpy(), ts[0])
        ys, hcur = [y0], 0.0
        base = counts.accepted, counts.rejected
        for t_out in ts[1:]:
            with warnings.catch_warnings():  # its failures become our SolverError below
                warnings.simplefilter("ignore", UserWarning)
                y = r.integrate(t_out)
            iwork = r._integrator.iwork
            steps, fails = int(iwork[10]), int(iwork[20] + iwork[21])  # NST, NCFN + NETF
            counts.accepted, counts.rejected = base[0] + steps, base[1] + fails
            over = steps + fails > self.max_num_steps
            if not r.successful() or bad or over:
                code = r.get_return_code()
                why = (f"non-finite derivative at t={bad[0]:.6g}" if bad
                       else _RETURN[-1] if over or code == -1
                       else _RETURN.get(code, f"istate {code}"))
                raise SolverError(f"vode_adams: {why}, while solving to t={t_out:.6g} "
                                  f"(reached t={r.t:.6g}, accepted={counts.accepted}, "
                                  f"rejected={counts.rejected}, max_num_steps="
                                  f"{self.max_num_steps}). {REMEDY}")
            ys.append(torch.from_numpy(np.array(y)).to(**like))
            hcur = float(r._integrator.rwork[11])  # HCUR: the next step size
        return ys, abs(hcur)


@functools.cache
def register() -> None:
    """Register ``vode_adams`` with the library's solvers, once. Called, never run at
    import, by the config checks that read a solver name (``SolverConfig``,
    ``NfeStudyConfig``): every solve the pipeline runs is of a checked config."""
    register_solver("vode_adams", VodeAdamsSolver, adaptive=True)
