"""Step-size controllers: how the next step follows from the error of this one
(Hairer, Norsett, Wanner I, sec. II.4; Soderlind 2002; Gustafsson 1991).

A controller is a frozen configuration with two parts, one per question:

* ``proposal(err, q)``: the unclipped step ratio h_new / h for a local error estimate
  of order ``q`` (err is the scaled error norm; a step is accepted when err <= 1);
  a variable-order method compares it across orders before it picks one;
* ``limit(factor, accepted)``: that ratio clipped by the outcome of the step.

``start(q)`` returns the per-solve state of a fixed-order method, a function
``factor(err, accepted) -> h_new / h`` (PI control remembers the last accepted error).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import positive

StepFactor = Callable[[float, bool], float]
TUNING = ("safety", "ifactor", "dfactor")  # the options that configure a named controller


@dataclass(frozen=True)
class PIController:
    """PI control h_new = h * safety * err^(-alpha) * err_prev^beta, with
    alpha = 1/q - 0.75 beta (Gustafsson; Hairer's beta = 0.04 for dopri5), clipped to
    [dfactor, ifactor] and never growing after a rejection. ``beta = 0`` is I control."""

    safety: float = 0.9
    ifactor: float = 10.0
    dfactor: float = 0.2
    beta: float = 0.04

    def __post_init__(self) -> None:
        for name in ("safety", "ifactor", "dfactor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not (math.isfinite(value) and value > 0):
                raise ValueError(f"controller {name} must be a positive number, got {value!r}")
        if not self.dfactor < 1 < self.ifactor or not self.safety <= 1:
            raise ValueError("a step-size controller needs dfactor < 1, safety <= 1 and "
                             f"ifactor > 1, got dfactor={self.dfactor}, safety={self.safety}, "
                             f"ifactor={self.ifactor}; choose dfactor < 1 < ifactor and "
                             "safety <= 1")
        if not 0 <= self.beta < 1:
            raise ValueError(f"controller beta must be in [0, 1), got {self.beta!r}")

    def proposal(self, err: float, q: int, err_prev: float = 1.0) -> float:
        """safety * err^(-alpha) * err_prev^beta, unclipped: ifactor for err = 0 (a
        polynomial solution), dfactor for nan (0 for inf)."""
        if err == 0.0:
            return self.ifactor
        if not err > 0:
            return self.dfactor
        return self.safety * err ** -(1.0 / q - 0.75 * self.beta) * err_prev ** self.beta

    def limit(self, factor: float, accepted: bool) -> float:
        """``factor`` clipped to [dfactor, ifactor], and to >= 1 after an accepted step
        (as torchdiffeq: an accepted step is never followed by a shorter one)."""
        return min(self.ifactor, max(1.0 if accepted else self.dfactor, factor))

    def start(self, q: int) -> StepFactor:
        err_prev = 1.0

        def factor(err: float, accepted: bool) -> float:
            nonlocal err_prev
            if not math.isfinite(err):
                return self.dfactor
            out = self.limit(self.proposal(err, q, err_prev), accepted)
            if accepted:
                err_prev = max(err, 1e-4)
            return out

        return factor


@dataclass(frozen=True)
class IController(PIController):
    """Integral (elementary) control h_new = h * safety * err^(-1/q) (Hairer I, II.4)."""

    beta: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta != 0.0:
            raise ValueError(f"IController has beta = 0, got {self.beta!r}; use PIController")


@dataclass(frozen=True)
class OrderController(IController):
    """I control for a variable-order method (Adams; Shampine & Gordon 1975): the
    method compares :meth:`proposal` across orders, then the chosen one is clipped to
    [dfactor, ifactor] after an accepted step (which may shrink: the next order may need
    it) and to [dfactor, safety] after a rejected one (a retry is always shorter)."""

    def limit(self, factor: float, accepted: bool) -> float:
        return min(self.ifactor if accepted else self.safety, max(self.dfactor, factor))


Controller = PIController  # the type of every controller (the others are subclasses)
CONTROLLERS: dict[str, type[PIController]] = {"I": IController, "PI": PIController}


def from_options(opts: dict[str, Any], defaults: dict[str, Any], method: str) -> PIController:
    """The controller of a solver's options: ``opts["controller"]``, a name in
    :data:`CONTROLLERS` configured by safety/ifactor/dfactor, or an instance (then
    those three must stay at their ``defaults``)."""
    ctl = opts["controller"]
    tuning = {k: opts[k] for k in TUNING}
    if isinstance(ctl, PIController):
        changed = sorted(k for k, v in tuning.items() if v != defaults[k])
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
