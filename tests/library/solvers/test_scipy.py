"""Adaptive solvers against scipy's DOP853 at tight tolerance, and dense output."""

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from neuralode import collect_stats, odeint


def lotka_volterra(t, y):
    # (B, 2) state; the classic predator-prey system, nonlinear and non-stiff.
    x, z = y[..., 0], y[..., 1]
    return torch.stack([1.5 * x - x * z, -3.0 * z + x * z], dim=-1)


def _reference(t_np, y0_np):
    sol = solve_ivp(lambda t, y: lotka_volterra(t, torch.from_numpy(y)).numpy(),
                    (t_np[0], t_np[-1]), y0_np, method="DOP853", t_eval=t_np,
                    rtol=1e-13, atol=1e-13)
    return sol.y.T  # (T, 2)


@pytest.mark.parametrize("method,tol,bound", [("dopri5", 1e-9, 1e-6), ("bosh3", 1e-8, 1e-5)])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_against_scipy(method, tol, bound, direction):
    t_np = np.linspace(0.0, 5.0, 21)
    if direction == "backward":
        t_np = t_np[::-1].copy()
    y0_np = np.array([1.0, 1.0])
    ref = _reference(t_np, y0_np)
    y = odeint(lotka_volterra, torch.from_numpy(y0_np)[None], torch.from_numpy(t_np),
               method=method, rtol=tol, atol=tol)
    assert np.abs(y[:, 0].numpy() - ref).max() < bound


def test_dense_output_does_not_force_steps(f64):
    y0 = torch.tensor([[1.0, 1.0]])
    counts = []
    for n_out in (2, 100):
        with collect_stats() as s:
            odeint(lotka_volterra, y0, torch.linspace(0, 5, n_out), rtol=1e-6, atol=1e-8)
        counts.append(s.steps_accepted + s.steps_rejected)
    assert counts[1] <= counts[0] + 3, counts


def test_dense_output_accuracy(f64):
    # Interpolated points are as accurate as step endpoints (4th-order quartic).
    t = torch.linspace(0.0, 5.0, 200)
    y = odeint(lotka_volterra, torch.tensor([[1.0, 1.0]]), t, rtol=1e-10, atol=1e-10)
    ref = _reference(t.numpy(), np.array([1.0, 1.0]))
    assert np.abs(y[:, 0].numpy() - ref).max() < 1e-7
