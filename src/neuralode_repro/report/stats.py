"""Verdicts over seeds: an interval for each measured value and the rule that turns
intervals into *reproduced*, *not reproduced* or *inconclusive at this profile*.

One run is never enough: the latent ODE's n = 30 predictive RMSE was 0.453 with seed 0
and 0.869 with seed 1, same code and budget. Every comparison is judged on the spread
over seeds, with the rule in :data:`RULE` (printed in the report).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"
INCONCLUSIVE = "inconclusive at this profile"
NOT_COMPARABLE = "not comparable at this profile"
SMOKE = "smoke run: no verdict"
MIN_SEEDS = 3   # fewer seeds: no verdict on a comparison
CI_SEEDS = 5    # from this many seeds on, a Student-t 95% interval instead of the range

RULE = (
    f"Each value is the mean over seeds, shown with a 95% Student-t interval from "
    f"{CI_SEEDS} seeds on, or with its range [min, max] below that. A value against the "
    "paper's is *reproduced* when its whole interval lies within ±ε of the paper's value, "
    "*not reproduced* when none of it does, and *inconclusive at this profile* otherwise. "
    "An ordering (A below B) is *reproduced* when A is below B in every seed or the "
    "95% interval of the paired difference A − B lies below 0, *not reproduced* in the "
    "mirror case, and *inconclusive at this profile* otherwise. With fewer than "
    f"{MIN_SEEDS} seeds a comparison is inconclusive whatever its values. A run trained "
    "far less than the paper is *not comparable at this profile*; one below the smoke "
    "floor of `params.yaml:report` gets no verdict at all.")

# Two-sided 95% Student-t quantiles t_{0.975, df}, df = 1..30 (any statistics table).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201,
         2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074,
         2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    """t_{0.975, df}: the table to df = 30, then the Cornish-Fisher expansion around
    the normal quantile (Abramowitz & Stegun 26.7.5), within 1e-3 of the exact value."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class Interval:
    """The mean of ``n`` values and an interval [lo, hi] of kind "95% CI", "range" or
    "one seed" (lo = hi = mean)."""

    mean: float
    lo: float
    hi: float
    n: int
    kind: str

    def show(self, digits: int = 3, unit: str = "") -> str:
        """``0.45 ± 0.031 (95% CI, 5 seeds)``, ``0.45 [0.41, 0.87] (range, 3 seeds)``,
        ``0.45 (1 seed)``; ``unit`` follows the mean."""
        g = f".{digits}g"
        if self.kind == "95% CI":
            return (f"{self.mean:{g}}{unit} ± {(self.hi - self.lo) / 2:.2g} "
                    f"(95% CI, {self.n} seeds)")
        if self.kind == "range":
            return (f"{self.mean:{g}}{unit} [{self.lo:{g}}, {self.hi:{g}}] "
                    f"(range, {self.n} seeds)")
        return f"{self.mean:{g}}{unit} (1 seed)"


def interval(values: Sequence[float]) -> Interval:
    """Mean and interval of the values over seeds (see :data:`RULE`)."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("an interval needs at least one value, got none")
    mean = statistics.fmean(xs)
    if len(xs) == 1:
        return Interval(mean, mean, mean, 1, "one seed")
    if len(xs) < CI_SEEDS or not all(math.isfinite(x) for x in xs):
        return Interval(mean, min(xs), max(xs), len(xs), "range")
    half = t975(len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs))
    return Interval(mean, mean - half, mean + half, len(xs), "95% CI")


def match_verdict(values: Sequence[float], paper: float, eps: float,
                  comparable: bool = True) -> str:
    """Our values over seeds against the paper's single value, within ±``eps``."""
    if not comparable:
        return NOT_COMPARABLE
    if not all(math.isfinite(v) for v in values):
        return NOT_REPRODUCED  # a diverged seed
    if len(values) < MIN_SEEDS:
        return INCONCLUSIVE
    iv = interval(values)
    if paper - eps <= iv.lo and iv.hi <= paper + eps:
        return REPRODUCED
    if iv.hi < paper - eps or iv.lo > paper + eps:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def order_verdict(a: Sequence[float], b: Sequence[float]) -> str:
    """The claim "A is below B", from paired values (the same seeds, in order)."""
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    if not all(math.isfinite(float(x)) for x in a):
        return NOT_REPRODUCED  # A diverged in a seed
    if any(math.isnan(float(y)) for y in b):
        return INCONCLUSIVE
    diffs = [float(x) - float(y) for x, y in zip(a, b, strict=True)]  # B = inf: d = -inf
    if len(diffs) < MIN_SEEDS:
        return INCONCLUSIVE
    iv = interval(diffs)
    ci = iv.kind == "95% CI"
    if all(d < 0 for d in diffs) or (ci and iv.hi < 0):
        return REPRODUCED
    if all(d > 0 for d in diffs) or (ci and iv.lo > 0):
        return NOT_REPRODUCED
    return INCONCLUSIVE


def combine(verdicts: Sequence[str], need: str = "all") -> str:
    """One verdict from several (e.g. one per n or per capacity). ``need="all"``: every
    part reproduced, and any part not reproduced refutes it; ``"majority"``: more than
    half reproduced, or at least half not reproduced refutes it."""
    vs = list(verdicts)
    for blocking in (SMOKE, NOT_COMPARABLE):
        if blocking in vs:
            return blocking
    yes, no = vs.count(REPRODUCED), vs.count(NOT_REPRODUCED)
    if need == "all":
        return REPRODUCED if yes == len(vs) else NOT_REPRODUCED if no else INCONCLUSIVE
    if need == "majority":
        return REPRODUCED if yes > len(vs) / 2 else \
            NOT_REPRODUCED if no >= len(vs) / 2 else INCONCLUSIVE
    raise ValueError(f"need must be 'all' or 'majority', got {need!r}")
