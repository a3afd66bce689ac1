"""The per-sample error norm (``norm="sample"``): one hard sample in a batch gets the
steps it would get alone, for every adaptive family and through the adjoint."""

from __future__ import annotations

import pytest
import torch

from neuralode import odeint, odeint_adjoint
from neuralode.solvers.base import rms_norm, split_rows

from .test_gradients import MLP

RTOL, ATOL = 1e-6, 1e-8
T = torch.tensor([0.0, 3.0], dtype=torch.float64)


def rotations(omegas: torch.Tensor):
    """B independent rotations y' = [[0, -w], [w, 0]] y, y(0) = (1, 0): exact
    y(t) = (cos wt, sin wt)."""
    a = torch.zeros(len(omegas), 2, 2, dtype=torch.float64)
    a[:, 0, 1], a[:, 1, 0] = -omegas, omegas
    y0 = torch.zeros(len(omegas), 2, dtype=torch.float64)
    y0[:, 0] = 1.0

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bij,bj->bi", a, y)  # (B, 2)

    exact = torch.stack([torch.cos(omegas * T[-1]), torch.sin(omegas * T[-1])], dim=1)
    return f, y0, exact


def err_over_tol(y: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    return ((y - exact).abs() / (ATOL + RTOL * exact.abs())).amax(dim=1)  # (B,)


@pytest.mark.parametrize("method", ["dopri5", "bosh3", "adams"])
def test_a_fast_sample_ends_as_accurate_as_alone(method):
    omegas = torch.ones(64, dtype=torch.float64)
    omegas[7] = 20.0  # one sample 20x faster than the 63 others
    f, y0, exact = rotations(omegas)
    alone_f, alone_y0, alone_exact = rotations(omegas[7:8])
    alone = err_over_tol(odeint(alone_f, alone_y0, T, method=method, rtol=RTOL,
                                atol=ATOL)[-1], alone_exact)[0]
    batch = {norm: err_over_tol(odeint(f, y0, T, method=method, rtol=RTOL, atol=ATOL,
                                       norm=norm)[-1], exact)[7] for norm in ("rms", "sample")}
    # the batch RMS divides the fast sample's error by ~sqrt(64): it ends far above
    # what it gets alone; the per-sample norm sizes the shared step for it
    assert batch["rms"] > 3 * alone
    assert batch["sample"] == pytest.approx(float(alone), rel=1e-6)


def test_identical_samples_take_the_same_steps_under_both_norms():
    f, y0, _ = rotations(torch.full((16,), 3.0, dtype=torch.float64))
    ys = {}
    for norm in ("rms", "sample"):
        ys[norm] = odeint(f, y0, T, rtol=RTOL, atol=ATOL, norm=norm)
    torch.testing.assert_close(ys["rms"], ys["sample"], rtol=1e-12, atol=1e-14)


def test_adjoint_gradients_under_the_sample_norm_match_direct_backprop():
    torch.manual_seed(0)
    func = MLP().double()
    y0 = torch.randn(8, 2, dtype=torch.float64)
    y0[3] *= 5  # one sample far out

    grads = {}
    for name, solve in (("direct", odeint), ("adjoint", odeint_adjoint)):
        func.zero_grad()
        y = y0.clone().requires_grad_(True)
        solve(func, y, T, rtol=1e-10, atol=1e-12, norm="sample")[-1].pow(2).sum().backward()
        grads[name] = [y.grad, *(p.grad for p in func.parameters())]
    for a, b in zip(grads["adjoint"], grads["direct"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)


def test_rms_norm_of_a_rows_segment_is_the_largest_row_rms():
    x = torch.tensor([3.0, 4.0, 0.0, 0.0, 1.0, 1.0, 5.0])  # rows (3, 4), (0, 0), (1, 1)
    assert rms_norm(x, [(0, 6, 3)]) == pytest.approx((25 / 2) ** 0.5)
    assert rms_norm(x, [(0, 6, 3), (6, 7)]) == pytest.approx(5.0)
    assert rms_norm(x, [(0, 6)]) == pytest.approx((27 / 6) ** 0.5)  # plain ranges unchanged
    assert split_rows([(0, 6, 3), (6, 7)]) == [(0, 2), (2, 4), (4, 6), (6, 7)]


@pytest.mark.parametrize("solve", [odeint, odeint_adjoint])
def test_a_bad_norm_names_the_choices(solve):
    f, y0, _ = rotations(torch.ones(2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"norm must be one of \['rms', 'sample'\], got 'max'"):
        solve(f, y0, T, norm="max")
    with pytest.raises(ValueError, match="norm='sample' needs y0's first dimension"):
        solve(lambda t, y: -y, torch.tensor(1.0, dtype=torch.float64), T, norm="sample")
