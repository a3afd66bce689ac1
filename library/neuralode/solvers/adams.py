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

from ._common import check_step, first_step_of, parse_options, positive
from .base import REMEDY, FlatFunc, Segments, SolverError, StepCounts, rms_norm

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
    largest step ratio) and ``dfactor`` (0.2, the smallest).

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
        if not (opts["dfactor"] < 1 and opts["safety"] <= 1 and opts["ifactor"] > 1):
            raise ValueError("options need dfactor < 1, safety <= 1 and ifactor > 1, got "
                             f"dfactor={opts['dfactor']}, safety={opts['safety']}, "
                             f"ifactor={opts['ifactor']}")
        self.first_step: float | None = opts["first_step"]
        self.max_order: int = opts["max_order"]
        self.max_num_steps: int = opts["max_num_steps"]
        self.safety, self.ifactor, self.dfactor = opts["safety"], opts["ifactor"], opts["dfactor"]
        self.last_orders: list[int] = []



    def _factor(self, err: float, order: int) -> float:
        """The step ratio that would bring an order-``order`` error estimate to safety * 1."""
        if not err > 0:  # zero (polynomial solution) or nan (handled by the caller)
            return self.ifactor if err == 0 else self.dfactor
        return self.safety * err ** (-1.0 / (order + 1))

    def integrate(self, f: FlatFunc, y0: Tensor, ts: Sequence[float], *, rtol: float,
                  atol: float, counts: StepCounts, segments: Segments | None = None,
                  first_step: float | None = None) -> tuple[list[Tensor], float]:
        t0, t_end = ts[0], ts[-1]
        direction = 1.0 if t_end >= t0 else -1.0
        f0, h = first_step_of(self.name, f, y0, t0, t_end, rtol=rtol, atol=atol,
                              segments=segments, q=2, hint=first_step or self.first_step)
        like = dict(dtype=y0.dtype, device=y0.device)
        kmax = self.max_order
        t, y = t0, y0
        phi = f0[None]  # (m, n): Phi_0..Phi_{m-1} at t_n, m <= number of past points
        times = [t0]  # t_n, t_{n-1}, ...: newest first
        k, at_order, fails = 1, 0, 0
        self.last_orders = orders = []
        ys, i_out = [y0], 1
        while i_out < len(ts):
            check_step(self.name, self.max_num_steps, t, h, counts, t0, t_end)
            last = abs(t_end - t) <= h * (1 + 1e-12)
            dt = (t_end - t) if last else direction * h
            t1 = t_end if last else t + dt
            a = [(t - ti) / dt for ti in times]  # a_0 = 0, then > 0
            m = min(len(times), k + 1)  # rows of Phi* used: predictor k, raise test k+1
            beta = [1.0]
            for j in range(1, m):
                beta.append(beta[-1] * (1.0 + a[j - 1]) / a[j])
            g = integrals(a[:k + 1])  # g_0..g_{k+1}
            phis = phi[:m] * torch.tensor(beta, **like)[:, None]  # Phi*_j(n), (m, n)
            cum = torch.cumsum(phis, dim=0)  # cum[j] = Phi*_0 + ... + Phi*_j
            p = torch.addmv(y, phis[:k].T, torch.tensor(g[:k], **like), alpha=dt)
            fp = f(t1, p)
            e = fp - cum[k - 1]  # Phi_k(n+1), (n,)
            with torch.no_grad():  # step and order control is not part of the graph
                scale = torch.maximum(y.abs(), p.abs()).mul_(rtol).add_(atol)

                # the order-q corrector's error: |dt| |g_q - g_{q-1}| ||Phi_q(n+1)||
                diffs = {k: e}
                if k >= 2:  # Phi_{k-1}(n+1) = Phi_k(n+1) + Phi*_{k-1}(n)
                    diffs[k - 1] = e + phis[k - 1]
                if k < kmax and m > k:  # Phi_{k+1}(n+1) = Phi_k(n+1) - Phi*_k(n)
                    diffs[k + 1] = e - phis[k]
                errs = {q: abs(dt) * abs(g[q] - g[q - 1]) * rms_norm(d / scale, segments)
                        for q, d in diffs.items()}
                err = errs[k]
                factors = {q: self._factor(eq, q) for q, eq in errs.items()}
            if not err <= 1.0:  # rejected (also for nan): shrink, maybe lower the order
                counts.rejected += 1
                fails += 1
                q = k - 1 if k >= 2 and factors[k - 1] > factors[k] else k
                k, at_order = (1 if fails >= 3 else q), 0
                h = abs(dt) * min(self.safety, max(self.dfactor, factors[q]))
                continue
            counts.accepted += 1
            orders.append(k)
            y1 = torch.add(p, e, alpha=dt * g[k])
            f1 = f(t1, y1)
            if not bool(torch.isfinite(f1).all()):
                raise SolverError(f"adams: non-finite derivative at t={t1:.6g} (dt={dt:.3g}, "
                                  f"accepted={counts.accepted}, rejected={counts.rejected}). "
                                  f"{REMEDY}")
            while i_out < len(ts) and (last or direction * (ts[i_out] - t1) <= 0):
                if last and i_out == len(ts) - 1 or ts[i_out] == t1:
                    ys.append(y1)
                else:  # dense output: the corrector's polynomial, integrated to ts[i_out]
                    w = integrals(a[:k], (ts[i_out] - t) / dt)  # G_0..G_k
                    out = torch.addmv(y, phis[:k].T, torch.tensor(w[:k], **like), alpha=dt)
                    ys.append(torch.add(out, e, alpha=dt * w[k]))
                i_out += 1
            # the next history: Phi_0 = f_{n+1}, Phi_{j+1} = f_{n+1} - sum_{i<=j} Phi*_i
            keep = min(m, kmax + 1)
            phi = torch.cat([f1[None], f1[None] - cum[:keep]])
            times = [t1, *times][:kmax + 2]
            # order: after k+1 steps at order k, k-1 or k+1 if it promises a longer step
            at_order, fails, q = at_order + 1, 0, k
            if at_order > k:
                best = max(factors, key=lambda o: factors[o] / (1 if o == k else ORDER_BIAS))
                if best != k:
                    q, at_order = best, 0
            h = abs(dt) * min(self.ifactor, max(self.dfactor, factors[q]))
            t, y, k = t1, y1, q
        return ys, h
