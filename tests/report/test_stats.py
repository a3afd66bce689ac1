"""Intervals over seeds and the verdict rule (report/stats.py)."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats as sps

from neuralode_repro.report.stats import (
    INCONCLUSIVE,
    NOT_CONVERGED,
    NOT_REPRODUCED,
    REPRODUCED,
    SMOKE,
    combine,
    convergence,
    gated,
    interval,
    match_verdict,
    order_verdict,
    t975,
)


@pytest.mark.parametrize("df", [1, 2, 4, 9, 29, 30, 31, 40, 100, 1000])
def test_t_quantile_matches_scipy(df):
    assert t975(df) == pytest.approx(sps.t.ppf(0.975, df), rel=1e-9)


def test_t_quantile_needs_a_degree_of_freedom():
    with pytest.raises(ValueError, match="degrees of freedom must be >= 1, got 0"):
        t975(0)


def test_ci_from_five_seeds_is_the_student_t_interval():
    xs = [0.45, 0.87, 0.62, 0.51, 0.70]
    iv = interval(xs)
    lo, hi = sps.t.interval(0.95, len(xs) - 1, loc=statistics.fmean(xs), scale=sps.sem(xs))
    assert iv.kind == "95% CI" and iv.n == 5
    assert (iv.lo, iv.hi) == pytest.approx((lo, hi), rel=1e-3)
    assert iv.show() == f"0.63 ± {(hi - lo) / 2:.2g} (95% CI, 5 seeds)"


def test_fewer_than_five_seeds_give_the_range_and_one_seed_no_interval():
    iv = interval([0.649, 1.222, 0.624])
    assert (iv.kind, iv.lo, iv.hi) == ("range", 0.624, 1.222)
    assert iv.show() == "0.832 [0.624, 1.22] (range, 3 seeds)"
    assert interval([0.453]).show() == "0.453 (1 seed)"
    with pytest.raises(ValueError, match="at least one value, got none"):
        interval([])


@pytest.mark.parametrize(("values", "expected"), [
    ([0.40, 0.42, 0.44], REPRODUCED),          # the whole range within 0.41 +- 0.15
    ([0.05, 0.10, 0.20], NOT_REPRODUCED),       # none of it
    ([0.60, 0.70, 0.80], NOT_REPRODUCED),
    ([0.40, 0.42, 0.60], INCONCLUSIVE),         # straddles the edge 0.56
    ([0.41, 0.41], INCONCLUSIVE),               # too few seeds, however close
    ([0.41, math.nan, 0.41], NOT_REPRODUCED),   # a diverged seed
])
def test_match_verdict(values, expected):
    assert match_verdict(values, 0.41, 0.15) == expected


def _seeds(*curves):
    """Curves at budgets 250, 500, 750, 1000 from their values."""
    return [list(zip((250, 500, 750, 1000), c, strict=True)) for c in curves]


@pytest.mark.parametrize("curves, converged, moved", [
    # one seed: the move 0.50 -> 0.49 against delta alone
    (_seeds((0.9, 0.50, 0.495, 0.49)), True, -0.01),
    (_seeds((0.9, 0.50, 0.45, 0.40)), False, -0.10),
    # seeds far apart (0.5 and 1.1 at the end) but each still falling by 0.1: the
    # seeds' offsets cancel in the paired move, so this is not converged
    (_seeds((0.9, 0.6, 0.55, 0.5), (1.5, 1.2, 1.15, 1.1), (1.0, 0.9, 0.85, 0.8)),
     False, -0.10),
    # a rise counts as a move too (overfitting, a diverging run)
    (_seeds((0.9, 0.4, 0.45, 0.5)), False, 0.10),
    # seeds moving in opposite directions: the mean move is within the seed noise
    (_seeds((0.9, 0.6, 0.65, 0.7), (0.9, 0.6, 0.57, 0.55)), True, 0.025),
    # every seed falling, but by less than delta on average
    (_seeds((0.9, 0.6, 0.6, 0.59), (0.9, 0.6, 0.6, 0.595)), True, -0.0075),
])
def test_convergence_over_the_last_doubling(curves, converged, moved):
    c = convergence(curves, 0.015)
    assert (c.converged, c.half, c.final) == (converged, 500, 1000)
    assert c.move.mean == pytest.approx(moved, abs=1e-12) and c.move.n == len(curves)
    assert c.show().endswith(": converged" if converged else ": not converged")


def test_convergence_shows_the_paired_move():
    c = convergence(_seeds((0.9, 0.6, 0.55, 0.5), (1.5, 1.3, 1.2, 1.1)), 0.015)
    assert c.show() == ("moved -0.15 [-0.2, -0.1] (range, 2 seeds) from 500 to 1,000, "
                        "δ 0.015: not converged")


def test_convergence_compares_the_point_nearest_half_the_budget():
    """5 points (200..1000): 400 and 600 are equally near 500; the earlier one, the
    longer and stricter span, is taken; 8 points of one epoch: exactly 0.5."""
    five = [[(200 * k, v) for k, v in enumerate((1.0, 0.8, 0.5, 0.5, 0.5), start=1)]]
    c = convergence(five, 0.015)
    assert (c.half, c.converged) == (400, False)
    eight = [[(k / 8, 1.0) for k in range(1, 9)]]
    assert convergence(eight, 0.1).half == 0.5


@pytest.mark.parametrize("curves, why", [
    ([[(1000, 0.5)]], "one budget point only (no curve)"),
    ([[], []], "no budget axis (its budget_points: 0)"),
    (_seeds((0.9, 0.5, 0.5, math.nan)), "a seed's metric is not finite"),
    (_seeds((0.9, math.inf, 0.5, 0.5)), "a seed's metric is not finite"),
])
def test_convergence_unknown_is_not_converged(curves, why):
    c = convergence(curves, 0.015)
    assert not c.converged and c.why == why and c.show() == f"{why}: not converged"


def test_convergence_rejects_bad_input():
    with pytest.raises(ValueError, match="delta must be > 0, got 0"):
        convergence(_seeds((1, 1, 1, 1)), 0)
    with pytest.raises(ValueError, match="one curve per seed, got none"):
        convergence([], 0.1)
    with pytest.raises(ValueError, match="must share their budget points"):
        convergence([[(1, 0.5), (2, 0.5)], [(1, 0.5), (3, 0.5)]], 0.1)


def test_gated_verdicts():
    yes, no = convergence(_seeds((1, 1, 1, 1)), 0.1), convergence(_seeds((2, 2, 1, 1)), 0.1)
    for verdict in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE):
        assert gated(verdict, yes, yes) == verdict
        assert gated(verdict, yes, no) == NOT_CONVERGED  # never "not reproduced"
    assert gated(SMOKE, no) == SMOKE
    assert gated(REPRODUCED) == REPRODUCED  # a claim on no trained run
    assert combine([REPRODUCED, NOT_CONVERGED, NOT_REPRODUCED]) == NOT_CONVERGED
    assert combine([NOT_CONVERGED, SMOKE]) == SMOKE


def test_order_verdict_every_seed_or_paired_interval():
    assert order_verdict([1, 2, 3], [2, 3, 4]) == REPRODUCED          # A below in every seed
    assert order_verdict([2, 3, 4], [1, 2, 3]) == NOT_REPRODUCED
    assert order_verdict([1, 3, 3], [2, 2, 4]) == INCONCLUSIVE         # 2 of 3
    assert order_verdict([1, 2], [2, 3]) == INCONCLUSIVE              # too few seeds
    # 5 seeds, one against: the paired interval decides
    a, b = [0.1, 0.2, 0.1, 0.3, 0.25], [1.1, 1.3, 1.0, 0.29, 1.2]
    assert order_verdict(a, b) == REPRODUCED
    assert order_verdict([0, 0, 0, 0, 0], [0.1, -0.1, 0.1, -0.1, 0.05]) == INCONCLUSIVE
    assert order_verdict([math.inf, 1, 1], [2, 2, 2]) == NOT_REPRODUCED  # A diverged
    assert order_verdict([1, 1, 1], [math.inf, 2, 2]) == REPRODUCED
    with pytest.raises(ValueError, match="equal lengths, got 2 and 3"):
        order_verdict([1, 2], [1, 2, 3])


def test_tight_check_flags_a_move_beyond_the_seed_spread():
    """Issue 33, item 7: a value re-measured at a tight tolerance is flagged when its
    mean move exceeds the training values' range over seeds (one seed: δ)."""
    from neuralode_repro.report.stats import tight_check

    within = tight_check([0.5, 0.6, 0.7], [0.55, 0.65, 0.75], 1e-6, delta=0.015)
    assert within.spread == pytest.approx(0.2) and not within.flagged  # 0.05 < 0.2
    assert within.show() == ("0.05 [0.05, 0.05] (range, 3 seeds) at tol 1e-06, within its "
                             "seed spread")
    moved = tight_check([0.5, 0.51, 0.52], [0.6, 0.61, 0.62], 1e-6, delta=0.015)
    assert moved.flagged and moved.show().endswith("moves more than its seed spread: the "
                                                   "solver's error shows")
    assert tight_check([0.5, 0.51, 0.52], [0.4, 0.41, 0.42], 1e-6, 0.015).flagged  # down
    # one seed: no spread, δ instead
    assert not tight_check([1.0], [1.05], 1e-6, delta=0.075).flagged
    assert tight_check([1.0], [1.1], 1e-6, delta=0.075).flagged
    with pytest.raises(ValueError, match=r"paired values need equal, non-zero lengths, got "
                                         r"1 and 0"):
        tight_check([1.0], [], 1e-6, 0.075)
