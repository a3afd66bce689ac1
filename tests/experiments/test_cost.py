"""The deterministic training-cost axis (experiments/cost.py): FLOPs of one iteration
against the count by hand, and the cumulative axis from a training log's NFE."""

import pytest
import torch
from torch import nn

from neuralode import odeint
from neuralode_repro.experiments.cost import cumulative_flops, iteration_flops


def _mse(model, x):
    return (model(x) ** 2).mean(), {}


def _sum(model, x):
    return model(x).sum(), {}


def test_a_linear_layer_costs_2mkn_forward_and_backward_by_hand():
    """x W^T on (B, k) -> (B, n), loss the sum: forward 2Bkn (mm) + Bn (the sum);
    backward: dL/dW = g^T x, 2Bkn (x needs no gradient; expanding g costs nothing).
    With a bias and a squared mean: + Bn (addmm's term), Bn (pow), Bn (mean) forward."""
    torch.manual_seed(0)
    b, k, n, x = 8, 3, 5, torch.randn(8, 3)
    flops, nfe = iteration_flops(nn.Linear(k, n, bias=False), _sum, x)
    assert nfe == 0 and flops == 2 * b * k * n + b * n + 2 * b * k * n
    model = nn.Linear(k, n)
    with_bias, _ = iteration_flops(model, _mse, x)
    assert with_bias > flops + 3 * b * n  # and the backward of pow, mean and the bias
    assert all(p.grad is None for p in model.parameters())  # gradients dropped after


class _Flow(nn.Module):
    """rk4 over ``steps`` fixed steps of a linear field: each function evaluation is one
    (B, 2) x (2, 2) product."""

    def __init__(self, steps: int):
        super().__init__()
        self.lin, self.steps = nn.Linear(2, 2, bias=False), steps

    def forward(self, x):
        t = torch.linspace(0, 1, self.steps + 1)
        return odeint(lambda _, y: self.lin(y), x, t, method="rk4")[-1]


def test_a_solve_costs_per_function_evaluation():
    """rk4: 4 evaluations a step; each step adds the same FLOPs (its evaluations'
    products forward and backward, and the step's own arithmetic), so the count is
    linear in the NFE; two steps hold at least their 8 evaluations' products, forward
    and backward (2 x 2Bkn each)."""
    x = torch.randn(6, 2)
    (f2, n2), (f4, n4), (f6, n6) = (iteration_flops(_Flow(k), _mse, x) for k in (2, 4, 6))
    assert (n2, n4, n6) == (8, 16, 24)
    assert f4 - f2 == f6 - f4 >= 8 * 2 * (2 * 6 * 2 * 2)


def test_cumulative_flops_follows_each_steps_nfe():
    log = [{"step": 1, "nfe_forward": 10}, {"step": 2, "nfe_forward": 20},
           {"step": 3, "nfe_forward": 10}]
    assert cumulative_flops(log, flops=100, nfe=10) == {1: 100.0, 2: 300.0, 3: 400.0}
    no_solve = [{"step": s, "nfe_forward": 0} for s in (1, 2)]
    assert cumulative_flops(no_solve, flops=7, nfe=0) == {1: 7.0, 2: 14.0}


def test_cumulative_flops_errors_name_the_fix():
    with pytest.raises(ValueError, match=r"counted 0 FLOPs: expected a model with arithmetic"):
        cumulative_flops([{"step": 1, "nfe_forward": 1}], flops=0, nfe=1)
    with pytest.raises(ValueError, match=r"no NFE at step 2 while the model solves an ODE "
                                         r"\(8 evaluations measured\): pass the log of this"):
        cumulative_flops([{"step": 1, "nfe_forward": 8}, {"step": 2, "nfe_forward": 0}],
                         flops=80, nfe=8)
