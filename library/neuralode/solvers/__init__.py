"""Solver registry: a name maps to a factory ``options -> Solver``.

A Runge-Kutta method is a tableau (``TABLEAUX``); any other family implements the
:class:`~neuralode.solvers.base.Solver` protocol and registers itself with
:func:`register_solver`, e.g. ``register_solver("mine", MySolver)``. What such a
solver may build on is exported here: option parsing (:func:`parse_options`,
:func:`positive`), the error norm over :class:`Segment` ranges (:func:`rms_norm`,
:func:`split_rows`) and, for an adaptive one, the one driver loop (:func:`drive`,
through a :class:`Stepper` and a :data:`Control`) with the controllers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .adams import AdamsSolver
from .base import (
    REMEDY,
    FlatFunc,
    Segment,
    Segments,
    Solver,
    SolverError,
    StepCounts,
    parse_options,
    positive,
    rms_norm,
    split_rows,
)
from .control import CONTROLLERS, Controller, IController, OrderController, PIController
from .driver import Control, Stepper, drive, first_step_of
from .rk import AdaptiveSolver, FixedGridSolver
from .tableau import (
    BOSH3,
    CASH_KARP,
    DOPRI5,
    EULER,
    MIDPOINT,
    RK4,
    ButcherTableau,
)

Factory = Callable[[dict[str, Any] | None], Solver]

TABLEAUX: dict[str, ButcherTableau] = {tab.name: tab for tab in
                                      (EULER, MIDPOINT, RK4, BOSH3, DOPRI5, CASH_KARP)}
_REGISTRY: dict[str, tuple[Factory, bool]] = {}


def register_solver(name: str, factory: Factory, *, adaptive: bool) -> None:
    """Make ``method=name`` build ``factory(options)``; ``adaptive`` says whether
    rtol/atol control its steps. Re-registering a name replaces it."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"solver name must be an identifier, got {name!r}")
    _REGISTRY[name] = (factory, bool(adaptive))


def _rk(tab: ButcherTableau) -> Factory:
    cls = AdaptiveSolver if tab.adaptive else FixedGridSolver
    return lambda options: cls(tab, options)


for _tab in TABLEAUX.values():
    register_solver(_tab.name, _rk(_tab), adaptive=_tab.adaptive)
register_solver("adams", AdamsSolver, adaptive=True)


def solver_names() -> tuple[str, ...]:
    """Every registered method name, built-in and registered later."""
    return tuple(_REGISTRY)


def is_adaptive(method: str) -> bool:
    """Whether ``method`` has error control (raises ``ValueError`` if unknown)."""
    return _lookup(method)[1]


def _lookup(method: str) -> tuple[Factory, bool]:
    entry = _REGISTRY.get(method) if isinstance(method, str) else None
    if entry is None:
        raise ValueError(f"unknown method {method!r}; valid methods: "
                         f"{', '.join(solver_names())}")
    return entry


def make_solver(method: str, options: dict[str, Any] | None = None) -> Solver:
    """Build the solver registered as ``method`` with validated ``options``."""
    return _lookup(method)[0](options)


SOLVERS: tuple[str, ...] = solver_names()  # the built-in methods

__all__ = ["CONTROLLERS", "REMEDY", "SOLVERS", "TABLEAUX", "AdamsSolver", "ButcherTableau",
           "Control", "Controller", "FlatFunc", "IController", "OrderController",
           "PIController", "Segment", "Segments", "Solver", "SolverError", "StepCounts",
           "Stepper", "drive", "first_step_of", "is_adaptive", "make_solver", "parse_options",
           "positive", "register_solver", "rms_norm", "solver_names", "split_rows"]
