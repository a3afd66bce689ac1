"""Helpers shared by the benchmark scripts (bench.py, peers.py, pipeline.py, startup.py):
interleaved median timing, the relative gradient error and git. Nothing runs at import,
and torch loads only when a tensor helper runs (pipeline.py's CLI needs none)."""

from __future__ import annotations

import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class _TooSlow(Exception):
    pass


def _alarm(_signum: int, _frame: object) -> None:
    raise _TooSlow


def _first_call_within(fn: Callable[[], object], budget_s: float) -> bool:
    """Call ``fn`` once; False when it runs past ``budget_s`` seconds (it is cut off)."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, budget_s)
    try:
        fn()
        return True
    except _TooSlow:
        return False
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def median_ms(fns: Mapping[str, Callable[[], object]], repeats: int, *, warmups: int = 1,
              budget_s: float | None = None) -> dict[str, float]:
    """Median wall time in ms of each function, interleaved A B C A B C over ``repeats``
    rounds, after ``warmups`` untimed rounds (peers.py uses 3: TorchScript's profiling
    executor optimizes a graph on its second call).

    With ``budget_s``, each function's first warm-up call is cut off after that many
    seconds (SIGALRM; main thread only) and the function is dropped: it is absent from
    the result, which then holds only the functions that were timed."""
    if repeats < 1 or warmups < 1:
        raise ValueError(f"repeats={repeats}, warmups={warmups}: both must be >= 1")
    live = dict(fns)
    for name, fn in fns.items():
        if budget_s is None:
            fn()
        elif not _first_call_within(fn, budget_s):
            del live[name]
    for _ in range(warmups - 1):
        for fn in live.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in live}
    for _ in range(repeats):
        for name, fn in live.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}


def rel_l2(ga: Sequence[torch.Tensor], gb: Sequence[torch.Tensor]) -> float:
    """||ga - gb|| / ||gb|| over all tensors as one vector, computed in float64 (a
    float32 gradient scored against a float64 reference keeps the reference's digits)."""
    import torch

    a = torch.cat([g.flatten().double() for g in ga])
    b = torch.cat([g.flatten().double() for g in gb])
    return ((a - b).norm() / b.norm()).item()


def uncounted(f: torch.nn.Module, solve: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``solve()`` with ``f`` not counting its calls (for a compiled step)."""
    f.counting = False
    try:
        return solve()
    finally:
        f.counting = True


def git(repo: Path, *args: str) -> tuple[bool, str]:
    """``git args`` in ``repo``: (True, stdout) on success, else (False, why: git's
    stderr, or that git could not be started)."""
    try:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    except OSError as err:
        return False, f"cannot run git: {err}"
    return (True, out.stdout.strip()) if out.returncode == 0 else (False, out.stderr.strip())
