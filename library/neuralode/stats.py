"""Solver statistics: function evaluations and steps, per call and per block of code.

The paper's Figure 3 plots forward and backward NFE. A model never counts its own
calls: every ``odeint``/``odeint_adjoint`` call fills a :class:`SolverStats`, and
``collect_stats()`` sums the calls made inside a ``with`` block, including the
adjoint's backward solves that run later during ``loss.backward()``.

The active collectors live in a :class:`contextvars.ContextVar`, so each thread (and
each asyncio task) sees only the blocks it opened itself. A call captures them when
it starts; the adjoint's backward adds to those captured collectors, which is what
keeps counting right when autograd runs the backward on another thread (CUDA).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields

_ACTIVE: ContextVar[tuple[SolverStats, ...]] = ContextVar("neuralode_collectors", default=())
# One solve adds once (not per evaluation), so a single lock costs nothing and makes
# a collector safe to share with a backward pass running on autograd's device thread.
_LOCK = threading.Lock()


@dataclass(eq=False)  # identity: collectors are found and removed by identity
class SolverStats:
    """Counts of one solve (or, as a collector, of many).

    ``nfe_forward``/``nfe_backward`` are evaluations of the user's function in the
    forward solve and in the adjoint's backward solve (0 for direct backprop). A
    solve that raises still counts the work it did.
    """

    nfe_forward: int = 0
    nfe_backward: int = 0
    steps_accepted: int = 0
    steps_rejected: int = 0
    backward_steps_accepted: int = 0
    backward_steps_rejected: int = 0
    _sinks: tuple[SolverStats, ...] = field(default=(), repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Increment the named counters here and in every collector listening."""
        with _LOCK:
            for target in (self, *self._sinks):
                for name, value in counts.items():
                    setattr(target, name, getattr(target, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


def new_call_stats(user: SolverStats | None) -> SolverStats:
    """Stats object for one solver call, wired to this context's active collectors
    and ``user``."""
    if user is not None and not isinstance(user, SolverStats):
        raise TypeError(f"stats must be a neuralode.SolverStats or None, got "
                        f"{type(user).__name__} {user!r}; pass stats=SolverStats() and read "
                        "its fields after the call, or count a block with collect_stats()")
    sinks = _ACTIVE.get()
    return SolverStats(_sinks=sinks if user is None else (*sinks, user))


@contextmanager
def collect_stats() -> Iterator[SolverStats]:
    """Sum the statistics of every solver call started inside the block, in this
    thread (or task) only.

    Example::

        with collect_stats() as s:
            loss = model(x).sum()
            loss.backward()
        print(s.nfe_forward, s.nfe_backward)
    """
    stats = SolverStats()
    _ACTIVE.set((*_ACTIVE.get(), stats))
    try:
        yield stats
    finally:
        # remove by identity rather than ContextVar.reset: blocks may close out of order
        _ACTIVE.set(tuple(s for s in _ACTIVE.get() if s is not stats))
