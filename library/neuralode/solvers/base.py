"""What every solver shares: the :class:`Solver` protocol, errors, step counts, option
parsing, the error norm and the one Hermite interpolant. Public: a solver outside the
library (e.g. the pipeline's ``vode_adams``) builds on these."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor

# A flat right-hand side: f(t, y) with y a 1-D tensor; t is a Python float.
FlatFunc = Callable[[float, Tensor], Tensor]


class Segment(NamedTuple):
    """An index range ``[start, stop)`` of the flat state, normed on its own (see
    :func:`rms_norm`); with ``rows > 1`` the range holds ``rows`` equal samples, each
    normed alone. A plain tuple ``(start, stop)`` or ``(start, stop, rows)`` reads the
    same (``Segment(*it)``)."""

    start: int
    stop: int
    rows: int = 1


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
    * ``segments``: norm each :class:`Segment` of the state on its own and take the
      max (the adjoint passes [z], [a] and, without seminorm, [a_theta]); a segment
      with ``rows > 1`` is ``rows`` samples, each normed on its own (``norm="sample"``).
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


def rms_norm(x: Tensor, segments: Segments | None) -> float:
    """Root-mean-square norm; with ``segments``, the max of the per-segment RMS
    (a mixed norm, so a large adjoint block cannot hide error in a small one). A
    segment with ``rows > 1`` contributes the largest RMS of its ``rows`` equal parts,
    so one hard sample cannot hide in a batch average."""
    if segments is None:
        return float(torch.linalg.vector_norm(x)) / math.sqrt(max(x.numel(), 1))
    norms = []
    for seg in segments:
        a, b, n_rows = Segment(*seg)
        if n_rows == 1:
            norms.append(torch.linalg.vector_norm(x[a:b]) / math.sqrt(max(b - a, 1)))
        else:
            rows = x[a:b].view(n_rows, -1)  # (rows, (b - a) / rows)
            norms.append(torch.linalg.vector_norm(rows, dim=1).max()
                         / math.sqrt(max(rows.shape[1], 1)))
    return float(torch.stack(norms).max())


def split_rows(segments: Segments) -> list[tuple[int, int]]:
    """``segments`` as plain ranges ``(a, b)``, each segment cut into its ``rows`` parts
    (for codes that take only ranges, e.g. a weighted norm)."""
    out: list[tuple[int, int]] = []
    for seg in segments:
        a, b, rows = Segment(*seg)
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
