"""What every solver shares: the :class:`Solver` protocol, errors, step counts, the
error norm and the one Hermite interpolant."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

# A flat right-hand side: f(t, y) with y a 1-D tensor; t is a Python float.
FlatFunc = Callable[[float, Tensor], Tensor]
# Index ranges of the flat state, each normed on its own (see rms_norm): (a, b) is the
# range [a, b); (a, b, rows) is the same range as `rows` equal samples, each normed alone.
Segment = tuple[int, int] | tuple[int, int, int]
Segments = Sequence[Segment]


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


@runtime_checkable
class Solver(Protocol):
    """The contract between ``odeint``/``odeint_adjoint`` and a solver.

    ``odeint`` flattens the user's state and wraps the user's function, so a solver
    sees only 1-D tensors and Python-float times. ``integrate(f, y0, ts, ...)``:

    * ``f(t, y)``: the flat right-hand side; every call counts as one NFE (the
      wrapper counts it into ``counts.nfe``, the solver need not).
    * ``y0``: the flat initial state (n,), at time ``ts[0]``.
    * ``ts``: strictly monotone output times (increasing or decreasing, >= 2 of them).
    * ``rtol``, ``atol``: the tolerances; a fixed-grid solver ignores them.
    * ``counts``: add every accepted and rejected step to it.
    * ``segments``: norm each index range of the state on its own and take the max
      (the adjoint passes [z], [a] and, without seminorm, [a_theta]); a range given
      as ``(a, b, rows)`` is ``rows`` samples, each normed on its own (``norm="sample"``).
    * ``first_step``: a step size to start with (the adjoint passes the previous
      interval's last step), overriding the solver's own initial-step choice. A wrapper
      of a foreign code may document that it ignores this hint.

    It returns ``(ys, h)``: ``ys`` the states at every time of ``ts`` (``ys[0]`` is
    ``y0`` itself), each (n,); and ``h`` the step size the solver would take next
    (``None`` for a fixed grid). Outputs between steps come from dense output, so
    output times never shorten a step. With autograd enabled, ``ys`` must be
    differentiable functions of ``y0`` and of the tensors ``f`` uses (the RK-Net mode);
    step-size control is not part of that graph. A solve that cannot finish raises
    :class:`SolverError` with t, dt, the step counts and what to try; it never hangs.
    """

    name: str
    adaptive: bool  # whether rtol/atol control the steps (and are checked against dtype)

    def integrate(self, f: FlatFunc, y0: Tensor, ts: Sequence[float], *, rtol: float,
                  atol: float, counts: StepCounts, segments: Segments | None = None,
                  first_step: float | None = None) -> tuple[list[Tensor], float | None]: ...


def rms_norm(x: Tensor, segments: Segments | None) -> float:
    """Root-mean-square norm; with ``segments``, the max of the per-segment RMS
    (a mixed norm, so a large adjoint block cannot hide error in a small one). A
    segment ``(a, b, rows)`` contributes the largest RMS of its ``rows`` equal parts,
    so one hard sample cannot hide in a batch average."""
    if segments is None:
        return float(torch.linalg.vector_norm(x)) / math.sqrt(max(x.numel(), 1))
    norms = []
    for seg in segments:
        a, b = seg[0], seg[1]
        if len(seg) == 2 or seg[2] == 1:
            norms.append(torch.linalg.vector_norm(x[a:b]) / math.sqrt(max(b - a, 1)))
        else:
            rows = x[a:b].view(seg[2], -1)  # (rows, (b - a) / rows)
            norms.append(torch.linalg.vector_norm(rows, dim=1).max()
                         / math.sqrt(max(rows.shape[1], 1)))
    return float(torch.stack(norms).max())


def split_rows(segments: Segments) -> list[tuple[int, int]]:
    """``segments`` as plain ranges, each ``(a, b, rows)`` cut into its ``rows`` parts
    (for codes that take only ranges, e.g. a weighted norm)."""
    out: list[tuple[int, int]] = []
    for seg in segments:
        a, b = seg[0], seg[1]
        rows = seg[2] if len(seg) == 3 else 1
        size = (b - a) // rows
        out += [(a + i * size, a + (i + 1) * size) for i in range(rows)]
    return out


def hermite(y0: Tensor, y1: Tensor, f0: Tensor, f1: Tensor, h: float, theta: float) -> Tensor:
    """The cubic Hermite interpolant through (y0, f0) and (y1, f1) at t0 + theta h:
    3rd-order accurate for any step (Hairer, Norsett, Wanner I, sec. II.6)."""
    t2, t3 = theta * theta, theta ** 3
    # h00 y0 + h01 y1 with h00 + h01 = 1 is a lerp; then the two slope terms
    return (torch.lerp(y0, y1, 3 * t2 - 2 * t3) + f0 * (h * (t3 - 2 * t2 + theta))
            + f1 * (h * (t3 - t2)))
