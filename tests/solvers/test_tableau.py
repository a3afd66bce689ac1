import pytest

from neuralode import SOLVERS, TABLEAUX, ButcherTableau
from neuralode.solvers import make_solver


@pytest.mark.parametrize("name", SOLVERS)
def test_tableaux_are_consistent(name):
    tab = TABLEAUX[name]
    for ci, row in zip(tab.c, tab.a, strict=True):
        assert sum(row) == pytest.approx(ci, abs=1e-14)
    assert sum(tab.b) == pytest.approx(1.0, abs=1e-14)


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
    with pytest.raises(ValueError, match="'controller' must be 'I' or 'PI'"):
        make_solver("dopri5", {"controller": "PID"})
