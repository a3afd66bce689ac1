"""Intervals over seeds and the verdict rule (report/stats.py)."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats as sps

from neuralode_repro.report.stats import (
    INCONCLUSIVE,
    NOT_COMPARABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    interval,
    match_verdict,
    order_verdict,
    t975,
)


@pytest.mark.parametrize("df", [1, 2, 4, 9, 29, 30, 31, 40, 100, 1000])
def test_t_quantile_matches_scipy(df):
    assert t975(df) == pytest.approx(sps.t.ppf(0.975, df), abs=1e-3)


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


def test_match_verdict_not_comparable_first():
    assert match_verdict([0.41] * 5, 0.41, 0.15, comparable=False) == NOT_COMPARABLE


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
