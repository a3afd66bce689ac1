"""The variable-step, variable-order Adams PECE solver: its coefficients against the
classical constant-step ones and quadrature, its error against exact solutions and
scipy's VODE (Adams mode), its order selection, gradients and hostile options."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import ode

from neuralode import SolverError, SolverStats, odeint, odeint_adjoint
from neuralode.solvers import StepCounts, make_solver
from neuralode.solvers.adams import integrals

A = np.array([[-0.1, -1.0], [1.0, -0.1]])  # a damped rotation; y(10) = expm(10 A) y0
Y0 = np.array([1.0, 0.5])


def _rotation(t, y):
    return y @ torch.from_numpy(A).T


def _exact(t: float) -> np.ndarray:
    # expm(t A) for A = [[-d, -1], [1, -d]]: exp(-d t) [[cos, -sin], [sin, cos]]
    c, s = math.cos(t), math.sin(t)
    return math.exp(-0.1 * t) * np.array([[c, -s], [s, c]]) @ Y0


def _solve(tol, t_end=10.0, **options):
    stats = SolverStats()
    y = odeint(_rotation, torch.from_numpy(Y0), torch.tensor([0.0, t_end], dtype=torch.float64),
               method="adams", rtol=tol, atol=tol, options=options or None, stats=stats)
    return float(np.abs(y[-1].numpy() - _exact(t_end)).max()), stats.nfe_forward


def test_constant_step_coefficients_are_the_classical_adams_bashforth_ones():
    # a_i = i (equal steps): g_j are the gamma_j of Hairer I, Table III.1.1
    gammas = [1, 1 / 2, 5 / 12, 3 / 8, 251 / 720, 95 / 288, 19087 / 60480]
    assert integrals(range(6)) == pytest.approx(gammas, rel=1e-14)


def test_variable_step_coefficients_against_quadrature():
    a = [0.0, 0.7, 2.9, 3.4]  # an irregular history (t_n - t_{n-i}) / h
    s = 0.6
    nodes, weights = np.polynomial.legendre.leggauss(8)
    u = (nodes + 1) * s / 2
    for j, got in enumerate(integrals(a, s)):
        prod = np.prod([np.ones_like(u)] + [(u + ai) / (1 + ai) for ai in a[:j]], axis=0)
        assert got == pytest.approx(float(weights @ prod) * s / 2, rel=1e-13)


def test_error_is_proportional_to_tolerance():
    tols = [1e-4, 1e-6, 1e-8, 1e-10]
    errs = [_solve(tol)[0] for tol in tols]
    slope = np.polyfit(np.log(tols), np.log(errs), 1)[0]
    assert 0.8 < slope < 1.2, (slope, errs)
    assert all(e < 30 * tol for e, tol in zip(errs, tols, strict=True)), errs


@pytest.mark.parametrize("order", [1, 2, 3])
def test_order_capped_convergence(order):
    # With max_order=k the steps are controlled by the order-k error estimate, so
    # h ~ tol^(1/(k+1)) and NFE ~ tol^(-1/(k+1)), while the propagated order-(k+1)
    # corrector keeps the error proportional to tol. A wrong corrector coefficient
    # drops the propagated order, e.g. to an error slope of 0.65 at k = 1.
    tols = [1e-3, 1e-4, 1e-5, 1e-6]
    errs, nfes = zip(*(_solve(tol, max_order=order) for tol in tols), strict=True)
    err_slope = np.polyfit(np.log(tols), np.log(errs), 1)[0]
    nfe_slope = np.polyfit(np.log(tols), np.log(nfes), 1)[0]
    assert 0.85 < err_slope < 1.15, (err_slope, errs)
    assert abs(nfe_slope + 1 / (order + 1)) < 0.06, (nfe_slope, nfes)


def _vode(tol):
    r = ode(lambda t, y: A @ y).set_integrator("vode", method="adams", rtol=tol, atol=tol)
    r.set_initial_value(Y0, 0.0)
    y = r.integrate(10.0)
    return float(np.abs(y - _exact(10.0)).max()), int(r._integrator.iwork[11])


@pytest.mark.parametrize("tol", [1e-5, 1e-7, 1e-9])
def test_against_scipy_vode_adams(tol):
    # Same family, same tolerances: an error of VODE's size at no more evaluations
    # (measured: 1.9e-4 / 77, 1.7e-6 / 121, 2.5e-8 / 156 against VODE's 2.1e-4 / 87,
    # 1.3e-6 / 150, 5.1e-8 / 376 NFE).
    err, nfe = _solve(tol)
    vode_err, vode_nfe = _vode(tol)
    assert err < 3 * vode_err and nfe <= vode_nfe, (err, nfe, vode_err, vode_nfe)


def test_order_rises_and_high_order_pays():
    solver = make_solver("adams")
    counts = StepCounts()
    solver.integrate(_rotation, torch.from_numpy(Y0), [0.0, 10.0], rtol=1e-9, atol=1e-9,
                     counts=counts)
    orders = solver.last_orders
    assert orders[0] == 1 and max(orders) > 4
    steps = zip(orders, orders[1:], strict=False)
    assert all(abs(b - a) <= 1 for a, b in steps)  # k-1, k or k+1
    # capped at order 1 (Euler predicting, trapezoid correcting), far more evaluations
    capped = make_solver("adams", {"max_order": 1})
    capped.integrate(_rotation, torch.from_numpy(Y0), [0.0, 10.0], rtol=1e-6, atol=1e-6,
                     counts=StepCounts())
    assert set(capped.last_orders) == {1}
    assert _solve(1e-6, max_order=1)[1] > 5 * _solve(1e-6)[1]


def test_evaluation_accounting():
    # 1 for f(t0), 1 for the initial-step estimate, 2 per accepted and 1 per rejected step
    stats = SolverStats()
    odeint(_rotation, torch.from_numpy(Y0), torch.tensor([0.0, 10.0], dtype=torch.float64),
           method="adams", rtol=1e-7, atol=1e-7, stats=stats)
    assert stats.nfe_forward == 2 + 2 * stats.steps_accepted + stats.steps_rejected


def test_dense_output_matches_and_costs_nothing():
    t_few = torch.tensor([0.0, 10.0], dtype=torch.float64)
    t_many = torch.linspace(0.0, 10.0, 201, dtype=torch.float64)
    few, many = SolverStats(), SolverStats()
    odeint(_rotation, torch.from_numpy(Y0), t_few, method="adams", rtol=1e-8, atol=1e-8,
           stats=few)
    y = odeint(_rotation, torch.from_numpy(Y0), t_many, method="adams", rtol=1e-8, atol=1e-8,
               stats=many)
    assert many.nfe_forward == few.nfe_forward
    exact = np.stack([_exact(float(t)) for t in t_many])
    assert np.abs(y.numpy() - exact).max() < 3e-7


def test_backward_in_time_returns_to_the_start():
    t = torch.tensor([10.0, 4.0, 0.0], dtype=torch.float64)
    y = odeint(_rotation, torch.from_numpy(_exact(10.0)), t, method="adams", rtol=1e-10,
               atol=1e-10)
    assert np.abs(y[-1].numpy() - Y0).max() < 1e-8
    assert np.abs(y[1].numpy() - _exact(4.0)).max() < 1e-8


def test_gradients_adjoint_vs_direct_backprop(f64):
    torch.manual_seed(0)
    w = torch.randn(2, 2, requires_grad=True)
    y0 = torch.randn(4, 2, requires_grad=True)
    t = torch.tensor([0.0, 0.5, 1.5])

    def field(t, y):
        return torch.tanh(y @ w.T) * (1 + t)

    grads = []
    for solve, kw in ((odeint, {}), (odeint_adjoint, {"adjoint_params": (w,)})):
        y = solve(field, y0, t, method="adams", rtol=1e-10, atol=1e-10, **kw)
        grads.append(torch.autograd.grad(y.square().sum(), (y0, w)))
    for direct, adjoint in zip(*grads, strict=True):
        assert torch.allclose(direct, adjoint, rtol=1e-6, atol=1e-8)


def test_direct_backprop_is_the_derivative_of_the_computation(f64):
    torch.manual_seed(1)
    y0 = torch.randn(2, 2, requires_grad=True)
    w = torch.randn(2, 2, requires_grad=True)
    t = torch.tensor([0.0, 0.7])
    assert torch.autograd.gradcheck(
        lambda y0, w: odeint(lambda t, y: torch.tanh(y @ w.T), y0, t, method="adams",
                             rtol=1e-9, atol=1e-9), (y0, w))


def test_float32_state():
    y0 = torch.tensor([[1.0, 0.5]])
    y = odeint(lambda t, y: -y, y0, torch.tensor([0.0, 1.0]), method="adams", rtol=1e-5,
               atol=1e-6)
    assert y.dtype == torch.float32
    assert (y[-1] - y0 * math.exp(-1)).abs().max() < 1e-4


@pytest.mark.parametrize("options,msg", [
    ({"max_order": 0}, r"option 'max_order' must be a positive integer, got 0"),
    ({"max_order": 13}, r"'max_order' must be an integer in 1..12, got 13"),
    ({"max_order": True}, r"'max_order' must be a positive integer, got True"),
    ({"dfactor": 1.5}, r"dfactor < 1, safety <= 1 and ifactor > 1, got dfactor=1.5"),
    ({"ifactor": 1.0}, r"ifactor > 1, got .*ifactor=1.0"),
    ({"first_step": -0.1}, r"'first_step' must be a positive number, got -0.1"),
    ({"controller": "PI"}, r"unknown option\(s\) \['controller'\] for method 'adams'"),
])
def test_bad_options_are_refused(options, msg):
    with pytest.raises(ValueError, match=msg):
        make_solver("adams", options)


def test_failures_raise_solver_error():
    y0, t = torch.ones(1, 2), torch.tensor([0.0, 10.0])
    with pytest.raises(SolverError, match="adams: max_num_steps=5 exceeded at t="):
        odeint(lambda t, y: -y, y0, t, method="adams", options={"max_num_steps": 5})
    with pytest.raises(SolverError, match="adams: .*non-finite|adams: step size underflow"):
        odeint(lambda t, y: y * (math.nan if t > 0.5 else 1.0), y0, t, method="adams")
    with pytest.raises(SolverError, match="adams: non-finite state or derivative at t=0"):
        odeint(lambda t, y: y, torch.full((1, 2), math.inf), t, method="adams")


def test_seminorm_saves_backward_steps():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))
    y0 = torch.randn(16, 2)
    t = torch.tensor([0.0, 2.0])
    nfe = {}
    for semi in (False, True):
        stats = SolverStats()
        y = odeint_adjoint(lambda t, y: net(y), y0, t, method="adams", rtol=1e-6, atol=1e-6,
                           adjoint_params=tuple(net.parameters()), seminorm=semi, stats=stats)
        y[-1].square().sum().backward()
        nfe[semi] = stats.nfe_backward
    assert nfe[True] < nfe[False], nfe
