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
NOT_CONVERGED = "not converged at this profile"
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
    f"{MIN_SEEDS} seeds a comparison is inconclusive whatever its values. A claim on "
    "trained models is judged only if its runs converged: over the last doubling of "
    "their budget (from the budget point nearest half the budget to the end), the "
    "held-out metric's move, paired by seed, is below δ (`params.yaml:report`) on "
    "average, or its interval over seeds, as above, contains 0 (the seeds disagree on "
    "its direction); otherwise the claim is *not converged at this profile*, never *not "
    "reproduced*. A value of an ODE model is also measured with every solve at a tight "
    "tolerance (`train_latent.tight_solver`, `nfe_study.tight_tol`) beside its training "
    "one; where its mean move exceeds the "
    "value's spread over seeds (max − min; with one seed, δ), it is flagged: the "
    "result depends on the solver's error. A run below the smoke floor of "
    "`params.yaml:report` gets no verdict at all.")

def t975(df: int) -> float:
    """t_{0.975, df}, the two-sided 95% Student-t quantile (scipy's inverse of the
    Student-t CDF; imported here, so a report without a 95% interval never loads it)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    from scipy.special import stdtrit

    return float(stdtrit(df, 0.975))


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


def match_verdict(values: Sequence[float], paper: float, eps: float) -> str:
    """Our values over seeds against the paper's single value, within ±``eps``."""
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
    for blocking in (SMOKE, NOT_CONVERGED):
        if blocking in vs:
            return blocking
    yes, no = vs.count(REPRODUCED), vs.count(NOT_REPRODUCED)
    if need == "all":
        return REPRODUCED if yes == len(vs) else NOT_REPRODUCED if no else INCONCLUSIVE
    if need == "majority":
        return REPRODUCED if yes > len(vs) / 2 else \
            NOT_REPRODUCED if no >= len(vs) / 2 else INCONCLUSIVE
    raise ValueError(f"need must be 'all' or 'majority', got {need!r}")


@dataclass(frozen=True)
class Convergence:
    """The convergence rule of :data:`RULE` on one claim's runs: the budget points
    compared (``half``, ``final``) and the metric's ``move`` between them, paired by
    seed (final - half, one per seed, as an :class:`Interval`), against ``delta``."""

    converged: bool
    half: float
    final: float
    move: Interval | None
    delta: float
    why: str = ""  # set when the rule could not be applied

    def show(self, digits: int = 2) -> str:
        """``moved -0.12 [-0.2, -0.05] (range, 3 seeds) from 500 to 1,000, δ 0.015:
        not converged``."""
        if self.why or self.move is None:
            return f"{self.why}: not converged"
        return (f"moved {self.move.show(digits)} from {self.half:,.4g} to {self.final:,.4g}, "
                f"δ {self.delta:.2g}: {'converged' if self.converged else 'not converged'}")


def convergence(curves: Sequence[Sequence[tuple[float, float]]], delta: float
                ) -> Convergence:
    """:data:`RULE`'s convergence test on one curve per seed, each a list of
    (budget, held-out metric) points in budget order, every seed on the same budgets
    (iterations, epochs or steps). The move is paired by seed: a seed's offset, which
    dominates the spread of the values themselves, cancels in it. No points, one point,
    or a non-finite value at the two points compared cannot show convergence."""
    if delta <= 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    if not curves:
        raise ValueError("convergence needs one curve per seed, got none")
    if any(not c for c in curves):
        return Convergence(False, math.nan, math.nan, None, delta,
                           why="no budget axis (its budget_points: 0)")
    budgets = [float(b) for b, _ in curves[0]]
    if any([float(b) for b, _ in c] != budgets for c in curves):
        raise ValueError("the seeds' curves must share their budget points, got "
                         f"{[[b for b, _ in c] for c in curves]}")
    final = budgets[-1]
    if len(budgets) < 2:
        return Convergence(False, final, final, None, delta,
                           why="one budget point only (no curve)")
    k = min(range(len(budgets) - 1), key=lambda i: (abs(budgets[i] - final / 2), i))
    moves = [float(c[-1][1]) - float(c[k][1]) for c in curves]  # (seeds,)
    if not all(math.isfinite(d) for d in moves):
        return Convergence(False, budgets[k], final, None, delta,
                           why="a seed's metric is not finite")
    move = interval(moves)
    disagree = move.n > 1 and move.lo <= 0 <= move.hi  # the seeds differ on its direction
    return Convergence(abs(move.mean) < delta or disagree, budgets[k], final, move, delta)


def gated(verdict: str, *runs: Convergence) -> str:
    """``verdict``, unless one of the claim's ``runs`` did not converge (:data:`RULE`):
    then *not converged at this profile*. A smoke run keeps its "no verdict"."""
    if verdict == SMOKE or all(c.converged for c in runs):
        return verdict
    return NOT_CONVERGED


@dataclass(frozen=True)
class TightCheck:
    """A value of an ODE model at its training solver against a tight one: ``move``,
    the per-seed differences tight − training; ``spread``, the training values' range
    over seeds (with one seed, the δ of its metric); ``flagged`` when the mean move
    exceeds it."""

    move: Interval
    spread: float
    tol: float
    flagged: bool

    def show(self, digits: int = 2) -> str:
        mark = ("moves more than its seed spread: the solver's error shows"
                if self.flagged else "within its seed spread")
        return f"{self.move.show(digits)} at tol {self.tol:g}, {mark}"


def tight_check(train: Sequence[float], tight: Sequence[float], tol: float, delta: float
                ) -> TightCheck:
    """The rule in :data:`RULE` on paired values at the training and a tight solver."""
    if len(train) != len(tight) or not train:
        raise ValueError(f"paired values need equal, non-zero lengths, got {len(train)} "
                         f"and {len(tight)}")
    move = interval([b - a for a, b in zip(train, tight, strict=True)])
    spread = max(train) - min(train) if len(train) > 1 else delta
    return TightCheck(move, spread, tol, abs(move.mean) > spread)
