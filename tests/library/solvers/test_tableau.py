import dataclasses
import math

import pytest
import torch

from neuralode import TABLEAUX, ButcherTableau
from neuralode.solvers import make_solver
from neuralode.solvers.base import StepCounts
from neuralode.solvers.rk import FixedGridSolver


def _embedded(tab: ButcherTableau) -> ButcherTableau:
    """The pair's lower-order solution b_hat = b - b_err, as a method of its own."""
    b_hat = tuple(b - e for b, e in zip(tab.b, tab.b_err, strict=True))
    return ButcherTableau(f"{tab.name}-embedded", tab.error_order, c=tab.c, a=tab.a,
                          b=b_hat)


def _observed_order(tab: ButcherTableau, steps: tuple[int, ...] = (16, 32, 64, 128)) -> float:
    """The least-squares slope of log(global error) against log(h), stepping ``tab`` on
    fixed grids over [0, 1.5] of y' = 2t (-y2, y1), y(0) = (1, 0), a rotation that
    speeds up with t: y = (cos t^2, sin t^2). The field depends on t, so wrong nodes c
    show too; errors stay far above float64's eps (scalar test problems can hide an
    order behind a vanishing error constant; this one does not, for any tableau here)."""
    def f(t: float, y: torch.Tensor) -> torch.Tensor:
        return 2.0 * t * torch.stack([-y[1], y[0]])

    t1 = 1.5
    exact = torch.tensor([math.cos(t1 * t1), math.sin(t1 * t1)], dtype=torch.float64)
    log_h, log_err = [], []
    for n in steps:
        ys, _ = FixedGridSolver(tab, {"step_size": t1 / n}).integrate(
            f, torch.tensor([1.0, 0.0], dtype=torch.float64), [0.0, t1], rtol=0.0,
            atol=0.0, counts=StepCounts())
        log_h.append(math.log(t1 / n))
        log_err.append(math.log(float(torch.linalg.vector_norm(ys[-1] - exact))))
    mh, me = sum(log_h) / len(log_h), sum(log_err) / len(log_err)
    return (sum((h - mh) * (e - me) for h, e in zip(log_h, log_err, strict=True))
            / sum((h - mh) ** 2 for h in log_h))


@pytest.mark.parametrize("name", list(TABLEAUX))
def test_every_tableau_converges_at_its_order(name):
    """Measured: euler 1.03, midpoint 2.00, rk4 4.00, bosh3 3.00, dopri5 5.04,
    cash_karp 4.99."""
    tab = TABLEAUX[name]
    assert _observed_order(tab) == pytest.approx(tab.order, abs=0.1)


@pytest.mark.parametrize("name", [n for n in TABLEAUX if TABLEAUX[n].adaptive])
def test_every_embedded_estimate_converges_at_its_order(name):
    """The error estimate's lower-order solution, on finer grids (64-512 steps), where
    Cash-Karp's b_hat is asymptotic: its 5th-order defect is small, so on 16-128 steps
    it shows 3.86 and on 64-512 3.97. Measured there: bosh3 2.01, dopri5 4.00,
    cash_karp 3.97."""
    tab = TABLEAUX[name]
    order = _observed_order(_embedded(tab), steps=(64, 128, 256, 512))
    assert order == pytest.approx(tab.error_order, abs=0.1)


def test_a_wrong_embedded_weight_is_caught():
    """Moving 1% of weight between two b_hat entries keeps every sum the constructor
    checks (sum b_hat = 1); the convergence test sees the order fall to 1 (0.99)."""
    tab = TABLEAUX["dopri5"]
    err = list(tab.b_err)
    err[0], err[2] = err[0] - 0.01, err[2] + 0.01  # b_hat[0] += 0.01, b_hat[2] -= 0.01
    wrong = dataclasses.replace(tab, b_err=tuple(err))  # the constructor accepts it
    assert _observed_order(_embedded(wrong)) < tab.error_order - 2


def test_order_conditions_dopri5():
    # Order conditions up to 3 for b: sum b c = 1/2, sum b c^2 = 1/3, sum b a c = 1/6.
    tab = TABLEAUX["dopri5"]
    b, c, a = tab.b, tab.c, tab.a
    assert sum(bi * ci for bi, ci in zip(b, c, strict=True)) == pytest.approx(1 / 2)
    assert sum(bi * ci**2 for bi, ci in zip(b, c, strict=True)) == pytest.approx(1 / 3)
    ac = [sum(aij * c[j] for j, aij in enumerate(row)) for row in a]
    assert sum(bi * x for bi, x in zip(b, ac, strict=True)) == pytest.approx(1 / 6)


def test_tableau_rejects_bad_row_sum():
    with pytest.raises(ValueError, match="row 1 sums to 0.4"):
        ButcherTableau("bad", 1, c=(0.0, 0.5), a=((), (0.4,)), b=(0.5, 0.5))


def test_tableau_rejects_bad_weights():
    with pytest.raises(ValueError, match="weights b sum to 0.9"):
        ButcherTableau("bad", 1, c=(0.0,), a=((),), b=(0.9,))


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown method 'rk45'; valid methods: euler, .*dopri5"):
        make_solver("rk45")


@pytest.mark.parametrize("method,option", [("dopri5", "step_size"), ("rk4", "rtol"),
                                           ("bosh3", "bogus")])
def test_unknown_option_raises(method, option):
    with pytest.raises(ValueError, match=rf"unknown option\(s\) \['{option}'\].*valid options"):
        make_solver(method, {option: 1.0})


def test_bad_option_value():
    with pytest.raises(ValueError, match="'step_size' must be a positive number, got -0.1"):
        make_solver("rk4", {"step_size": -0.1})
    with pytest.raises(ValueError, match=r"'controller' must be one of \['I', 'PI'\] or a "
                       r"controller instance .*got 'PID'"):
        make_solver("dopri5", {"controller": "PID"})
