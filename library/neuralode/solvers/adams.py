"""Variable-step, variable-order Adams-Bashforth-Moulton in PECE mode, orders 1-12.

The family of LSODE/VODE's non-stiff mode, which the paper's experiments used through
scipy (sec. 3, "implicit Adams"). The formulas are the variable-coefficient ones of
Hairer, Norsett & Wanner I, sec. III.5, eq. (5.7)-(5.9), with Shampine & Gordon's
(1975) modified divided differences as the history:

* ``Phi_j(n) = prod_{i<j} (t_n - t_{n-i-1}) * f[t_n, ..., t_{n-j}]`` (rows of ``phi``);
* ``Phi*_j(n) = beta_j(n) Phi_j(n)`` rescales them to the step ``t_n -> t_{n+1} = t_n + h``;
* predict with Adams-Bashforth of order k: ``p = y_n + h sum_{j<k} g_j Phi*_j(n)``;
* evaluate ``f(p)``; ``Phi_k(n+1) = f(p) - sum_{j<k} Phi*_j(n)``;
* correct with Adams-Moulton of order k+1: ``y_{n+1} = p + h g_k Phi_k(n+1)``;
* evaluate ``f(y_{n+1})``; update ``Phi_0(n+1) = f_{n+1}``,
  ``Phi_{j+1}(n+1) = Phi_j(n+1) - Phi*_j(n)``.

``g_j = int_0^1 prod_{i<j} (s + a_i) / (1 + a_i) ds`` with ``a_i = (t_n - t_{n-i}) / h``:
every term is positive, so the coefficients of any step sequence are computed without
cancellation (Python floats, a few hundred flops per step). Any step size is allowed at
any time; only the step ratio is bounded (``ifactor``), for zero-stability.

Error control: the local error of the order-k corrector, ``h |g_k - g_{k-1}| ||Phi_k||``
(the difference of the order-k and order-(k+1) correctors; the more accurate one is
propagated, as in Shampine & Gordon's STEP). The same expression at orders k-1 and k+1
chooses the next order, after k+1 steps at the current one (VODE's rule).
2 evaluations per accepted step, 1 per rejected one.
"""

from __future__ import annotations

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
    parse_options,
    positive,
    rms_norm,
)
from .control import OrderController
from .driver import drive, first_step_of

MAX_ORDER = 12
ORDER_BIAS = 1.1  # an order change must promise a 10% longer step than staying


def integrals(a: Sequence[float], s: float = 1.0) -> list[float]:
    """``G_j(s) = int_0^s prod_{i<j} (u + a_i) / (1 + a_i) du`` for j = 0..len(a).

    ``G_j(1)`` are the integration coefficients ``g_j``; ``G_j(s)`` give dense output.
    """
    coeffs, out = [1.0], [s]  # the product polynomial in u, ascending powers
    for ai in a:
        coeffs = [((coeffs[p - 1] if p else 0.0) + (coeffs[p] * ai if p < len(coeffs) else 0.0))
                  / (1.0 + ai) for p in range(len(coeffs) + 1)]
        out.append(sum(c * s ** (p + 1) / (p + 1) for p, c in enumerate(coeffs)))
    return out


class AdamsSolver:
    """Adams-Bashforth-Moulton PECE with variable step and order (see the module doc).

    Options: ``first_step`` (None: Hairer's initial step for order 1), ``max_order``
    (1..12; order k predicts, order k+1 is propagated), ``max_num_steps`` (accepted +
    rejected steps of one ``integrate`` call), ``safety`` (0.9), ``ifactor`` (2.0, the
    largest step ratio) and ``dfactor`` (0.2, the smallest): an
    :class:`~neuralode.solvers.control.OrderController`.

    Dense output: the corrector's interpolating polynomial of the step, so output times
    never shorten a step. Each ``integrate`` call starts afresh at order 1 (the adjoint
    restarts at every observation time, where the adjoint state jumps). Attribute
    ``last_orders``: the order of each accepted step of the last call.
    """

    SPEC: dict[str, Any] = {"first_step": None, "max_order": MAX_ORDER,
                            "max_num_steps": 10_000, "safety": 0.9, "ifactor": 2.0,
                            "dfactor": 0.2}
    name = "adams"
    adaptive = True

    def __init__(self, options: dict[str, Any] | None = None):
        opts = parse_options(options, self.SPEC, self.name)
        for key in ("max_num_steps", "max_order"):
            positive(opts, key, integer=True)
        for key in ("safety", "ifactor", "dfactor"):
            positive(opts, key)
        if opts["first_step"] is not None:
            positive(opts, "first_step")
        if opts["max_order"] > MAX_ORDER:
            raise ValueError(f"option 'max_order' must be an integer in 1..{MAX_ORDER}, "
                             f"got {opts['max_order']!r}")
        self.controller = OrderController(opts["safety"], opts["ifactor"], opts["dfactor"])
        self.first_step: float | None = opts["first_step"]
        self.max_order: int = opts["max_order"]
        self.max_num_steps: int = opts["max_num_steps"]
        self.last_orders: list[int] = []

    def integrate(self, f: FlatFunc, y0: Tensor, ts: Sequence[float], *, rtol: float,
                  atol: float, counts: StepCounts, segments: Segments | None = None,
                  first_step: float | None = None) -> tuple[list[Tensor], float]:
        f0, h = first_step_of(self.name, f, y0, ts[0], ts[-1], rtol=rtol, atol=atol,
                              segments=segments, q=2, hint=first_step or self.first_step)
        run = _Run(self, f, f0, y0, ts[0], rtol, atol, segments, counts)
        self.last_orders = run.orders
        return drive(self.name, run, run.control, y0, ts, h, counts=counts,
                     max_num_steps=self.max_num_steps)


class _Run:
    """One Adams solve, step by step (the :class:`~neuralode.solvers.driver.Stepper` of
    :class:`AdamsSolver`), and its step-size and order control."""

    def __init__(self, solver: AdamsSolver, f: FlatFunc, f0: Tensor, y0: Tensor, t0: float,
                 rtol: float, atol: float, segments: Segments | None, counts: StepCounts):
        self.f, self.rtol, self.atol, self.segments, self.counts = f, rtol, atol, segments, counts
        self.ctl, self.kmax = solver.controller, solver.max_order
        self.like = dict(dtype=y0.dtype, device=y0.device)
        self.phi = f0[None]  # (m, n): Phi_0..Phi_{m-1} at t_n, m <= number of past points
        self.times = [t0]  # t_n, t_{n-1}, ...: newest first
        self.k, self.at_order, self.fails = 1, 0, 0
        self.orders: list[int] = []

    def trial(self, t: float, y: Tensor, dt: float, t1: float) -> float:
        k, like, times = self.k, self.like, self.times
        a = [(t - ti) / dt for ti in times]  # a_0 = 0, then > 0
        m = min(len(times), k + 1)  # rows of Phi* used: predictor k, raise test k+1
        beta = [1.0]
        for j in range(1, m):
            beta.append(beta[-1] * (1.0 + a[j - 1]) / a[j])
        g = integrals(a[:k + 1])  # g_0..g_{k+1}
        phis = self.phi[:m] * torch.tensor(beta, **like)[:, None]  # Phi*_j(n), (m, n)
        cum = torch.cumsum(phis, dim=0)  # cum[j] = Phi*_0 + ... + Phi*_j
        p = torch.addmv(y, phis[:k].T, torch.tensor(g[:k], **like), alpha=dt)
        fp = self.f(t1, p)
        e = fp - cum[k - 1]  # Phi_k(n+1), (n,)
        with torch.no_grad():  # step and order control is not part of the graph
            scale = torch.maximum(y.abs(), p.abs()).mul_(self.rtol).add_(self.atol)

            # the order-q corrector's error: |dt| |g_q - g_{q-1}| ||Phi_q(n+1)||
            diffs = {k: e}
            if k >= 2:  # Phi_{k-1}(n+1) = Phi_k(n+1) + Phi*_{k-1}(n)
                diffs[k - 1] = e + phis[k - 1]
            if k < self.kmax and m > k:  # Phi_{k+1}(n+1) = Phi_k(n+1) - Phi*_k(n)
                diffs[k + 1] = e - phis[k]
            errs = {q: abs(dt) * abs(g[q] - g[q - 1]) * rms_norm(d / scale, self.segments)
                    for q, d in diffs.items()}
            # the step ratio that would bring each order's error to safety * 1 (its
            # local error is O(h^(q+1)))
            self.factors = {q: self.ctl.proposal(eq, q + 1) for q, eq in errs.items()}
        self.tried = (t, y, dt, t1, k, a, m, g, phis, cum, p, e)
        return errs[k]

    def control(self, h: float, dt: float, err: float, accepted: bool) -> float:
        """The next step and order (the driver's :data:`~.driver.Control`)."""
        k, factors = self.k, self.factors
        if not accepted:  # shrink, maybe lower the order
            self.fails += 1
            q = k - 1 if k >= 2 and factors[k - 1] > factors[k] else k
            self.k, self.at_order = (1 if self.fails >= 3 else q), 0
            return abs(dt) * self.ctl.limit(factors[q], False)
        # order: after k+1 steps at order k, k-1 or k+1 if it promises a longer step
        self.at_order, self.fails, q = self.at_order + 1, 0, k
        if self.at_order > k:
            best = max(factors, key=lambda o: factors[o] / (1 if o == k else ORDER_BIAS))
            if best != k:
                q, self.at_order = best, 0
        self.k = q
        return abs(dt) * self.ctl.limit(factors[q], True)

    def accept(self) -> Tensor:
        t, y, dt, t1, k, a, m, g, phis, cum, p, e = self.tried
        self.orders.append(k)
        self.y1 = torch.add(p, e, alpha=dt * g[k])
        self.f1 = self.f(t1, self.y1)
        if not bool(torch.isfinite(self.f1).all()):
            raise SolverError(f"adams: non-finite derivative at t={t1:.6g} (dt={dt:.3g}, "
                              f"accepted={self.counts.accepted}, "
                              f"rejected={self.counts.rejected}). {REMEDY}")
        return self.y1

    def dense(self, t_out: float) -> Tensor:
        """The corrector's polynomial, integrated to ``t_out``."""
        t, y, dt, t1, k, a, m, g, phis, cum, p, e = self.tried
        if t_out == t1:
            return self.y1
        w = integrals(a[:k], (t_out - t) / dt)  # G_0..G_k
        out = torch.addmv(y, phis[:k].T, torch.tensor(w[:k], **self.like), alpha=dt)
        return torch.add(out, e, alpha=dt * w[k])

    def advance(self) -> None:
        # the next history: Phi_0 = f_{n+1}, Phi_{j+1} = f_{n+1} - sum_{i<=j} Phi*_i
        t1, m, cum, f1 = self.tried[3], self.tried[6], self.tried[9], self.f1
        keep = min(m, self.kmax + 1)
        self.phi = torch.cat([f1[None], f1[None] - cum[:keep]])
        self.times = [t1, *self.times][:self.kmax + 2]
