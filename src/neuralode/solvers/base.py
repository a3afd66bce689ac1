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
