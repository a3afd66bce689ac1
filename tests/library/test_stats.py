import torch

from neuralode import SolverStats, collect_stats, odeint, odeint_adjoint


class Counted(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)
        self.calls = 0

    def forward(self, t, y):
        self.calls += 1
        return torch.tanh(self.lin(y))


def test_forward_nfe_matches_true_calls():
    f = Counted()
    stats = SolverStats()
    odeint(f, torch.randn(4, 2), torch.linspace(0, 1, 5), stats=stats)
    assert stats.nfe_forward == f.calls > 0
    assert stats.steps_accepted > 0 and stats.nfe_backward == 0


def test_adjoint_backward_nfe_recorded_in_collector():
    f = Counted()
    with collect_stats() as s:
        y = odeint_adjoint(f, torch.randn(4, 2), torch.linspace(0, 1, 5), rtol=1e-5, atol=1e-6)
        forward_calls = f.calls
        y.sum().backward()
    assert s.nfe_forward == forward_calls
    assert s.nfe_backward == f.calls - forward_calls > 0
    assert s.backward_steps_accepted > 0


def test_collectors_nest_and_fixed_step_counts():
    f = Counted()
    with collect_stats() as outer:
        with collect_stats() as inner:
            odeint(f, torch.randn(1, 2), torch.tensor([0.0, 1.0]), method="rk4",
                   options={"step_size": 0.25})
        odeint(f, torch.randn(1, 2), torch.tensor([0.0, 1.0]), method="euler",
               options={"step_size": 0.5})
    assert inner.nfe_forward == 16 and inner.steps_accepted == 4
    assert outer.nfe_forward == 18 and outer.steps_accepted == 6
