"""vode_adams: scipy's VODE (Adams mode) behind the Solver protocol, with our adjoint."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.integrate import ode

from neuralode import SolverError, SolverStats, odeint, odeint_adjoint
from neuralode.solvers import is_adaptive, make_solver, solver_names
from neuralode_repro.vode import _weights, register

A = np.array([[-0.1, -1.0], [1.0, -0.1]])
Y0 = np.array([1.0, 0.5])
T = [0.0, 2.5, 5.0, 10.0]


@pytest.fixture(autouse=True, scope="module")
def _registered():
    register()  # as the pipeline's config checks do


def _rotation(t, y):
    return y @ torch.from_numpy(A).T


def _exact(t):
    c, s = math.cos(t), math.sin(t)
    return math.exp(-0.1 * t) * np.array([[c, -s], [s, c]]) @ Y0


def test_registered_by_one_explicit_call_not_at_import():
    """Importing the module registers nothing (it did, from three importers); the config
    checks call register(), once however often."""
    script = ("from neuralode.solvers import solver_names; import neuralode_repro.vode as v; "
              "a = 'vode_adams' in solver_names(); v.register(); v.register(); "
              "print(a, 'vode_adams' in solver_names())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "True"]
    assert "vode_adams" in solver_names() and is_adaptive("vode_adams")


@pytest.mark.parametrize("tol", [1e-4, 1e-8])
def test_same_steps_and_values_as_scipy_itself(tol):
    stats = SolverStats()
    with torch.no_grad():
        y = odeint(_rotation, torch.from_numpy(Y0), torch.tensor(T, dtype=torch.float64),
                   method="vode_adams", rtol=tol, atol=tol, stats=stats)
    r = ode(lambda t, y: A @ y).set_integrator("vode", method="adams", rtol=tol, atol=tol)
    r.set_initial_value(Y0, 0.0)
    ref = [Y0] + [r.integrate(t) for t in T[1:]]
    assert np.allclose(y.numpy(), np.stack(ref), rtol=0, atol=1e-11)  # torch vs numpy matmul
    assert stats.nfe_forward == r._integrator.iwork[11]  # NFE
    assert stats.steps_accepted == r._integrator.iwork[10]  # NST
    exact = np.stack([_exact(t) for t in T])
    assert np.abs(y.numpy() - exact).max() < 100 * tol


def test_adjoint_gradients_match_direct_backprop():
    torch.manual_seed(0)
    w = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    y0 = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.0, 0.5, 1.5], dtype=torch.float64)

    def field(t, y):
        return torch.tanh(y @ w.T) * (1 + t)

    ref = torch.autograd.grad(odeint(field, y0, t, rtol=1e-11, atol=1e-11).square().sum(),
                              (y0, w))
    stats = SolverStats()
    y = odeint_adjoint(field, y0, t, method="vode_adams", rtol=1e-10, atol=1e-10,
                       adjoint_params=(w,), stats=stats)
    got = torch.autograd.grad(y.square().sum(), (y0, w))
    for a, b in zip(ref, got, strict=True):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-8)
    assert stats.nfe_backward > 0 and stats.backward_steps_accepted > 0


def test_float32_state_keeps_its_dtype():
    with torch.no_grad():
        y = odeint(lambda t, y: -y, torch.ones(2, 3), torch.tensor([0.0, 1.0]),
                   method="vode_adams", rtol=1e-6, atol=1e-8)
    assert y.dtype == torch.float32
    assert torch.allclose(y[-1], torch.full((2, 3), math.exp(-1.0)), rtol=1e-5)


def test_direct_backprop_is_refused():
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="'vode_adams' cannot backpropagate.*odeint_adjoint"):
        odeint(lambda t, y: y * w, torch.ones(2), torch.tensor([0.0, 1.0]),
               method="vode_adams")
    with pytest.raises(ValueError, match="cannot backpropagate"):
        odeint(lambda t, y: -y, torch.ones(2, requires_grad=True), torch.tensor([0.0, 1.0]),
               method="vode_adams")


def test_segment_weights_give_the_root_sum_square_of_segment_norms():
    rt, at = _weights(10, 1e-3, 1e-6, [(0, 2), (2, 8)])
    err = np.arange(1.0, 11.0)
    # VODE's norm: sqrt(mean((e / w)^2)) with w = rtol*|y| + atol; take y = 0
    vode_norm = math.sqrt(np.mean((err / at) ** 2))
    seg = [np.sqrt(np.mean((err[a:b] / 1e-6) ** 2)) for a, b in [(0, 2), (2, 8)]]
    assert vode_norm == pytest.approx(math.sqrt(np.sum(np.square(seg))))
    assert vode_norm >= max(seg)  # at least as strict as the library's max norm
    assert (at[8:] >= 1e100).all() and (rt[8:] == 0).all()  # in no segment
    assert _weights(4, 1e-3, 1e-6, None) == (1e-3, 1e-6)


def test_seminorm_saves_backward_steps():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))
    nfe = {}
    for semi in (False, True):
        stats = SolverStats()
        y = odeint_adjoint(lambda t, y: net(y), torch.randn(16, 2), torch.tensor([0.0, 2.0]),
                           method="vode_adams", rtol=1e-8, atol=1e-8, seminorm=semi,
                           adjoint_params=tuple(net.parameters()), stats=stats)
        y[-1].square().sum().backward()
        nfe[semi] = stats.nfe_backward
    assert nfe[True] < nfe[False], nfe


def test_failures_raise_solver_error():
    t = torch.tensor([0.0, 10.0])
    with torch.no_grad():
        with pytest.raises(SolverError, match=r"vode_adams: non-finite derivative at t=0\.5"):
            odeint(lambda t, y: y * (math.nan if t > 0.5 else 1.0), torch.ones(2), t,
                   method="vode_adams")
        with pytest.raises(SolverError, match=r"vode_adams: excess work.*max_num_steps=5"):
            odeint(lambda t, y: -y, torch.ones(2), t, method="vode_adams",
                   rtol=1e-10, atol=1e-10, options={"max_num_steps": 5})
        with pytest.raises(SolverError, match="vode_adams: non-finite state at t=0"):
            odeint(lambda t, y: y, torch.full((2,), math.inf), t, method="vode_adams")


@pytest.mark.parametrize("options,msg", [
    ({"max_order": 13}, r"'max_order' must be an integer in 1\.\.12, got 13"),
    ({"max_order": 0}, r"'max_order' must be a positive integer, got 0"),
    ({"first_step": "big"}, r"'first_step' must be a positive number, got 'big'"),
    ({"controller": "PI"}, r"unknown option\(s\) \['controller'\] for method 'vode_adams'"),
])
def test_bad_options_are_refused(options, msg):
    with pytest.raises(ValueError, match=msg):
        make_solver("vode_adams", options)
