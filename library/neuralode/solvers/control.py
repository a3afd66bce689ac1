"""Step-size controllers: how the next step follows from the error of this one
(Hairer, Norsett, Wanner I, sec. II.4; Soderlind 2002; Gustafsson 1991).

A controller is a frozen configuration; ``start(q)`` returns the per-solve state, a
function ``factor(err, accepted) -> h_new / h`` for a local error estimate of order
``q`` (err is the scaled error norm; a step is accepted when err <= 1).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

StepFactor = Callable[[float, bool], float]


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
            raise ValueError("a controller needs dfactor < 1 < ifactor and safety <= 1, got "
                             f"dfactor={self.dfactor}, ifactor={self.ifactor}, "
                             f"safety={self.safety}")
        if not 0 <= self.beta < 1:
            raise ValueError(f"controller beta must be in [0, 1), got {self.beta!r}")

    def start(self, q: int) -> StepFactor:
        alpha = 1.0 / q - 0.75 * self.beta
        err_prev = 1.0

        def factor(err: float, accepted: bool) -> float:
            nonlocal err_prev
            if not math.isfinite(err):
                return self.dfactor
            if err == 0.0:
                out = self.ifactor
            else:
                out = self.safety * err ** -alpha * err_prev ** self.beta
                out = min(self.ifactor, max(1.0 if accepted else self.dfactor, out))
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


Controller = PIController  # the type of every controller (IController is a subclass)
CONTROLLERS: dict[str, type[PIController]] = {"I": IController, "PI": PIController}
