"""Every failure path raises its documented error with a useful message."""

import math

import pytest
import torch

from neuralode import SolverError, odeint, odeint_adjoint

Y0 = torch.tensor([[1.0]])
T = torch.tensor([0.0, 1.0])


def test_max_num_steps_exceeded():
    with pytest.raises(SolverError, match=r"max_num_steps=5 exceeded at t=.*dt=.*accepted=.*"
                                          r"Try: loosen rtol/atol, raise options"):
        odeint(lambda t, y: torch.cos(50 * t) * y, Y0, T, rtol=1e-10, atol=1e-10,
               options={"max_num_steps": 5})


def test_fixed_grid_too_many_steps():
    with pytest.raises(SolverError, match="needs 1000000 steps.*over max_num_steps=10"):
        odeint(lambda t, y: -y, Y0, T, method="euler",
               options={"step_size": 1e-6, "max_num_steps": 10})


def test_blow_up_is_underflow_or_nonfinite():
    # y' = y^2 from y0=1 blows up at t=1: the step size collapses before t=2.
    with pytest.raises(SolverError, match=r"(step size underflow|max_num_steps).*Try"):
        odeint(lambda t, y: y**2, Y0, torch.tensor([0.0, 2.0]))


def test_fixed_grid_non_finite_state():
    with pytest.raises(SolverError, match="non-finite state at t=2.0"):
        odeint(lambda t, y: y**2 * 1e10, Y0, torch.tensor([0.0, 2.0]), method="euler",
               options={"step_size": 0.5})


def test_nan_dynamics_raise():
    with pytest.raises(SolverError, match="non-finite state or derivative at t=0"):
        odeint(lambda t, y: y * math.nan, Y0, T)
    # finite at t0, nan later: every step is rejected until the step size underflows
    with pytest.raises(SolverError, match="step size underflow at t=0.5"):
        odeint(lambda t, y: y * (math.nan if t > 0.5 else 1.0), Y0, T)


def test_unknown_method_and_option():
    with pytest.raises(ValueError, match="unknown method 'adam'"):
        odeint(lambda t, y: -y, Y0, T, method="adam")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['stepsize'\]"):
        odeint(lambda t, y: -y, Y0, T, method="rk4", options={"stepsize": 0.1})
    with pytest.raises(ValueError, match="unknown method 'rk45'"):
        odeint_adjoint(lambda t, y: -y, Y0, T, adjoint_method="rk45")


@pytest.mark.parametrize("kwargs,msg", [
    ({"rtol": 0.0}, "rtol must be a positive finite number, got 0.0"),
    ({"atol": -1e-3}, "atol must be a positive finite number"),
    ({"rtol": 5.0}, "rtol=5.0 is above 1"),
])
def test_bad_tolerances(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        odeint(lambda t, y: -y, Y0, T, **kwargs)


def test_bad_times_and_state():
    with pytest.raises(ValueError, match="strictly increasing or strictly decreasing"):
        odeint(lambda t, y: -y, Y0, torch.tensor([0.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match="at least 2 output times"):
        odeint(lambda t, y: -y, Y0, torch.tensor([0.0]))
    with pytest.raises(TypeError, match="floating-point tensor"):
        odeint(lambda t, y: -y, torch.tensor([[1]]), T)
    with pytest.raises(ValueError, match=r"returned shape \(2,\), expected .* \(1, 1\)"):
        odeint(lambda t, y: torch.zeros(2), Y0, T)
