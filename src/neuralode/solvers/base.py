"""Pieces shared by all solvers: errors, step counts, error norms, dense output."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

# A flat right-hand side: f(t, y) with y a 1-D tensor; t is a Python float.
FlatFunc = Callable[[float, Tensor], Tensor]


class SolverError(RuntimeError):
    """A solve that cannot finish: too many steps, step-size underflow, non-finite state."""


REMEDY = ("Try: loosen rtol/atol, raise options['max_num_steps'], or regularise the "
          "dynamics (weight decay, smaller learning rate, a fixed-step method).")


@dataclass
class StepCounts:
    """Mutable counters filled by one ``integrate`` call."""

    nfe: int = 0
    accepted: int = 0
    rejected: int = 0


def rms_norm(x: Tensor, segments: Sequence[tuple[int, int]] | None) -> float:
    """Root-mean-square norm; with ``segments``, the max of the per-segment RMS
    (a mixed norm, so a large adjoint block cannot hide error in a small one)."""
    if segments is None:
        return float(torch.linalg.vector_norm(x)) / math.sqrt(max(x.numel(), 1))
    norms = [torch.linalg.vector_norm(x[a:b]) / math.sqrt(max(b - a, 1)) for a, b in segments]
    return float(torch.stack(norms).max())


def hermite(y0: Tensor, y1: Tensor, f0: Tensor, f1: Tensor, h: float, theta: float) -> Tensor:
    """Cubic Hermite interpolant on a step of size h, at fraction ``theta`` (3rd order)."""
    t2, t3 = theta * theta, theta ** 3
    return ((2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + theta) * h * f0
            + (3 * t2 - 2 * t3) * y1 + (t3 - t2) * h * f1)


def quartic_coeffs(y0: Tensor, y1: Tensor, ymid: Tensor, f0: Tensor, f1: Tensor,
                   h: float) -> tuple[Tensor, ...]:
    """Coefficients (a, b, c, d, e) of p(s) = e + d s + c s^2 + b s^3 + a s^4 with
    p(0)=y0, p'(0)=h f0, p(1/2)=ymid, p(1)=y1, p'(1)=h f1 (Shampine 1986)."""
    d = h * f0
    big_a = y1 - y0 - d
    big_b = h * f1 - d
    big_c = 16 * (ymid - y0 - 0.5 * d)
    a = big_c - 8 * big_a + 2 * big_b
    b = 14 * big_a - 3 * big_b - 2 * big_c
    c = -5 * big_a + big_b + big_c
    return a, b, c, d, y0


def eval_quartic(coeffs: tuple[Tensor, ...], s: float) -> Tensor:
    a, b, c, d, e = coeffs
    return e + s * (d + s * (c + s * (b + s * a)))
