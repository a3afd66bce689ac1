"""The two stage layouts of the RK solvers (rk.py): a large state keeps its stages as a
list, a small one as a matrix. Both must give the same steps and the same answers,
up to rounding, forward, through direct backprop and through the adjoint."""

import pytest
import torch

from neuralode import TABLEAUX, collect_stats, odeint, odeint_adjoint
from neuralode.solvers import rk

from ..test_gradients import MLP
from .test_exact import BOUNDS, PROBLEMS

RK = sorted(TABLEAUX)


def _solve(method, problem, **kw):
    f, y0, t, _ = PROBLEMS[problem]
    # test_exact's settings, so that its error bounds apply
    opts = {"step_size": 1e-3} if method in ("euler", "midpoint", "rk4") else None
    with collect_stats() as stats:
        y = odeint(f, y0, t, method=method, rtol=1e-10, atol=1e-10, options=opts, **kw)
    return y, (stats.nfe_forward, stats.steps_accepted, stats.steps_rejected)


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("method", RK)
def test_list_layout_takes_the_same_steps_to_the_same_answer(method, problem, monkeypatch):
    y_matrix, counts_matrix = _solve(method, problem)
    monkeypatch.setattr(rk, "LARGE_STATE", 1)
    y_list, counts_list = _solve(method, problem)
    assert counts_list == counts_matrix
    torch.testing.assert_close(y_list, y_matrix, rtol=1e-12, atol=1e-14)
    exact = PROBLEMS[problem][3](PROBLEMS[problem][2])
    assert float((y_list - exact).abs().max()) < BOUNDS[method]


@pytest.mark.parametrize("method", ["dopri5", "bosh3", "cash_karp", "rk4"])
def test_list_layout_gradients_match_the_matrix_layout(method, monkeypatch):
    torch.manual_seed(0)
    func, y0 = MLP(dim=3, hidden=8).double(), torch.randn(5, 3, dtype=torch.float64)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    opts = {"step_size": 0.05} if method == "rk4" else None

    def grads(solve):
        func.zero_grad()
        y = y0.clone().requires_grad_(True)
        solve(func, y, t, method=method, rtol=1e-7, atol=1e-9, options=opts).pow(2).sum() \
            .backward()
        return [y.grad, *(p.grad.clone() for p in func.parameters())]

    for solve in (odeint, odeint_adjoint):
        matrix = grads(solve)
        monkeypatch.setattr(rk, "LARGE_STATE", 1)
        listed = grads(solve)
        monkeypatch.setattr(rk, "LARGE_STATE", 10 ** 12)
        for a, b in zip(listed, matrix, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_a_large_state_takes_the_list_layout_and_is_exact():
    y0 = torch.linspace(-1.0, 1.0, 2 * rk.LARGE_STATE, dtype=torch.float64).view(-1, 16)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    calls = []

    def f(t, y):
        calls.append(y.is_contiguous())
        return -y

    y = odeint(f, y0, t, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(y[-1], y0 * torch.exp(torch.tensor(-1.0, dtype=torch.float64)),
                               rtol=1e-8, atol=1e-12)
    assert all(calls)
