"""Solver statistics: function evaluations and steps, per call and per block of code.

The paper's Figure 3 plots forward and backward NFE. A model never counts its own
calls: every ``odeint``/``odeint_adjoint`` call fills a :class:`SolverStats`, and
``collect_stats()`` sums the calls made inside a ``with`` block, including the
adjoint's backward solves that run later during ``loss.backward()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields

_ACTIVE: list[SolverStats] = []


@dataclass(eq=False)  # identity: collectors are found and removed by identity
class SolverStats:
    """Counts of one solve (or, as a collector, of many).

    ``nfe_forward``/``nfe_backward`` are evaluations of the user's function in the
    forward solve and in the adjoint's backward solve (0 for direct backprop).
    """

    nfe_forward: int = 0
    nfe_backward: int = 0
    steps_accepted: int = 0
    steps_rejected: int = 0
    backward_steps_accepted: int = 0
    backward_steps_rejected: int = 0
    _sinks: list[SolverStats] = field(default_factory=list, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Increment the named counters here and in every collector listening."""
        for target in (self, *self._sinks):
            for name, value in counts.items():
                setattr(target, name, getattr(target, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


def new_call_stats(user: SolverStats | None) -> SolverStats:
    """Stats object for one solver call, wired to the active collectors and ``user``."""
    sinks = list(_ACTIVE)
    if user is not None:
        sinks.append(user)
    return SolverStats(_sinks=sinks)


@contextmanager
def collect_stats() -> Iterator[SolverStats]:
    """Sum the statistics of every solver call started inside the block.

    Example::

        with collect_stats() as s:
            loss = model(x).sum()
            loss.backward()
        print(s.nfe_forward, s.nfe_backward)
    """
    stats = SolverStats()
    _ACTIVE.append(stats)
    try:
        yield stats
    finally:
        _ACTIVE.remove(stats)
