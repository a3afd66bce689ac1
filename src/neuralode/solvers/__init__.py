"""Solver registry: a name maps to a tableau and the class that steps it."""

from __future__ import annotations

from typing import Any

from .base import SolverError, StepCounts
from .rk import AdaptiveSolver, FixedGridSolver
from .tableau import BOSH3, DOPRI5, EULER, MIDPOINT, RK4, ButcherTableau

TABLEAUX: dict[str, ButcherTableau] = {tab.name: tab for tab in
                                      (EULER, MIDPOINT, RK4, BOSH3, DOPRI5)}
SOLVERS: tuple[str, ...] = tuple(TABLEAUX)


def make_solver(method: str, options: dict[str, Any] | None = None
                ) -> FixedGridSolver | AdaptiveSolver:
    """Build the solver registered as ``method`` with validated ``options``."""
    tab = TABLEAUX.get(method) if isinstance(method, str) else None
    if tab is None:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(SOLVERS)}")
    cls = AdaptiveSolver if tab.adaptive else FixedGridSolver
    return cls(tab, options)


__all__ = ["SOLVERS", "TABLEAUX", "ButcherTableau", "SolverError", "StepCounts", "make_solver"]
