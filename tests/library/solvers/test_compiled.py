"""The opt-in compiled step (``options={"compile": True}``, solvers/compiled.py): the same
steps and answers as the eager step, up to rounding, wherever it applies, and the
eager step wherever it does not. One function and shape throughout, so that the
module compiles a few graphs only (seconds each)."""

import pytest
import torch

from neuralode import SolverError, collect_stats, odeint, odeint_adjoint

T = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)


class Cubic(torch.nn.Module):
    """The benchmark's tiny problem: an MLP on y^3 (no Python side effects)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(),
                                       torch.nn.Linear(16, 2)).double()

    def forward(self, t, y):
        return self.net(y ** 3)


FUNC = Cubic()
Y0 = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def _solve(compile_, **kw):
    with collect_stats() as stats, torch.no_grad():
        y = odeint(FUNC, Y0, T, rtol=1e-8, atol=1e-10, options={"compile": compile_}, **kw)
    return y, (stats.nfe_forward, stats.steps_accepted, stats.steps_rejected)


@pytest.mark.parametrize("method", ["dopri5", "bosh3"])
def test_compiled_step_takes_the_eager_steps_to_the_same_answer(method):
    eager, counts_eager = _solve(False, method=method)
    fused, counts_fused = _solve(True, method=method)
    assert counts_fused == counts_eager
    torch.testing.assert_close(fused, eager, rtol=1e-12, atol=1e-13)


def test_compiled_step_honours_the_per_sample_norm():
    eager, counts_eager = _solve(False, norm="sample")
    fused, counts_fused = _solve(True, norm="sample")
    assert counts_fused == counts_eager
    torch.testing.assert_close(fused, eager, rtol=1e-12, atol=1e-13)


def test_with_autograd_and_in_the_adjoint_the_gradients_are_the_eager_ones():
    grads = {}
    for compile_ in (False, True):
        for name, solve in (("direct", odeint), ("adjoint", odeint_adjoint)):
            FUNC.zero_grad()
            y = Y0.clone().requires_grad_(True)
            solve(FUNC, y, T, rtol=1e-8, atol=1e-10, options={"compile": compile_}) \
                .pow(2).sum().backward()
            grads[name, compile_] = [y.grad, *(p.grad.clone() for p in FUNC.parameters())]
    for name in ("direct", "adjoint"):
        for a, b in zip(grads[name, True], grads[name, False], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_compiled_step_reports_a_non_finite_start():
    bad = Y0.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(SolverError, match="non-finite state or derivative at t=0"), \
            torch.no_grad():
        odeint(FUNC, bad, T, options={"compile": True})


def test_compile_option_must_be_a_bool():
    with pytest.raises(ValueError, match="option 'compile' must be True or False, got 'yes'"):
        odeint(FUNC, Y0, T, options={"compile": "yes"})
