"""Gradients: gradcheck (float64), adjoint vs direct backprop, and torchdiffeq's adjoint."""

import pytest
import torch
import torchdiffeq
from torch import nn

from neuralode import odeint, odeint_adjoint

TIGHT = {"rtol": 1e-12, "atol": 1e-12}


def _field(w, b):
    # Non-autonomous, nonlinear: f(t, y) = tanh(y W^T + b) * (1 + t).
    return lambda t, y: torch.tanh(y @ w.T + b) * (1 + t)


@pytest.mark.parametrize("solve", ["odeint", "odeint_adjoint"])
@pytest.mark.parametrize("method,opts", [("dopri5", None), ("rk4", {"step_size": 0.1})])
def test_gradcheck(f64, solve, method, opts):
    torch.manual_seed(0)
    y0 = torch.randn(3, 2, requires_grad=True)
    t = torch.tensor([0.0, 0.4, 1.0], requires_grad=True)
    w = torch.randn(2, 2, requires_grad=True)
    b = torch.randn(2, requires_grad=True)

    def run(y0, t, w, b):
        kw = dict(method=method, options=opts, **TIGHT)
        if solve == "odeint_adjoint":
            return odeint_adjoint(_field(w, b), y0, t, adjoint_params=(w, b), **kw)
        return odeint(_field(w, b), y0, t, **kw)

    if method == "rk4":  # a fixed grid depends on t discretely: check y0 and params only
        assert torch.autograd.gradcheck(lambda y0, w, b: run(y0, t.detach(), w, b), (y0, w, b))
    else:
        assert torch.autograd.gradcheck(run, (y0, t, w, b), atol=1e-5, rtol=1e-4)


class MLP(nn.Module):
    def __init__(self, dim=2, hidden=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim + 1, hidden), nn.Tanh(), nn.Linear(hidden, dim))

    def forward(self, t, y):
        return self.net(torch.cat([y, t.expand(y.shape[0], 1)], dim=1))


class ConvField(nn.Module):
    def __init__(self, c=4):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, t, y):
        return self.conv2(torch.tanh(self.conv1(y))) * torch.cos(t)


def _grads(fn, model, y0, t, **kw):
    y0 = y0.clone().requires_grad_(True)
    out = fn(model, y0, t, **kw)
    loss = (out ** 2).sum() + out[1].sum()
    params = list(model.parameters())
    return torch.autograd.grad(loss, [y0, *params])


def _max_rel(a, b):
    return max(((x - y).abs().max() / y.abs().max()).item() for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("model,shape", [(MLP, (5, 2)), (ConvField, (2, 4, 5, 5))])
def test_adjoint_matches_direct_backprop(f64, model, shape):
    torch.manual_seed(1)
    m, y0, t = model(), torch.randn(*shape), torch.linspace(0, 1, 4)
    direct = _grads(odeint, m, y0, t, rtol=1e-11, atol=1e-11)
    adjoint = _grads(odeint_adjoint, m, y0, t, rtol=1e-11, atol=1e-11)
    assert _max_rel(adjoint, direct) < 1e-6


@pytest.mark.parametrize("model,shape", [(MLP, (5, 2)), (ConvField, (2, 4, 5, 5))])
@pytest.mark.parametrize("seminorm", [False, True])
def test_adjoint_matches_torchdiffeq(f64, model, shape, seminorm):
    torch.manual_seed(2)
    m, y0, t = model(), torch.randn(*shape), torch.linspace(0, 1, 4)
    tol = {"rtol": 1e-10, "atol": 1e-10}
    ours = _grads(odeint_adjoint, m, y0, t, seminorm=seminorm, **tol)
    opts = {"norm": "seminorm"} if seminorm else {}
    ref = _grads(torchdiffeq.odeint_adjoint, m, y0, t, adjoint_options=opts, **tol)
    assert _max_rel(ours, ref) < 1e-6


def test_adjoint_memory_does_not_grow_with_steps():
    """Bytes saved for backward: constant in the number of steps for the adjoint,
    growing for direct backprop (the paper's O(1) vs O(L~) memory)."""
    m = MLP(hidden=64)
    y0, t = torch.randn(64, 2), torch.tensor([0.0, 1.0])

    def saved_bytes(fn, steps):
        total = 0

        def pack(x):
            nonlocal total
            total += x.numel() * x.element_size()
            return x

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
            fn(m, y0, t, method="rk4", options={"step_size": 1.0 / steps})
        return total

    adj = [saved_bytes(odeint_adjoint, n) for n in (4, 32)]
    direct = [saved_bytes(odeint, n) for n in (4, 32)]
    assert adj[0] == adj[1]
    assert direct[1] > 4 * direct[0]


def test_gradient_without_parameters_and_unused_state():
    y0 = torch.ones(2, 3, requires_grad=True)
    out = odeint_adjoint(lambda t, y: torch.ones_like(y), y0, torch.tensor([0.0, 2.0]))
    out[-1].sum().backward()
    torch.testing.assert_close(out[-1], torch.full((2, 3), 3.0))
    torch.testing.assert_close(y0.grad, torch.ones(2, 3))


def test_solution_and_adjoint_match_torchode(f64):
    """torchode 1.0, an independent code (per-sample step control, its own dopri5), at
    tight tolerances: the same solution and, through its BacksolveAdjoint, the same
    gradients as our adjoint."""
    to = pytest.importorskip("torchode")

    class PerSample(nn.Module):  # torchode passes each sample's own time, (B,), and its
        def __init__(self, m):   # backsolve vmaps over single samples: y (D,), t ()
            super().__init__()
            self.m = m

        def forward(self, t, y):
            yb = y.reshape(-1, y.shape[-1])  # (B, D)
            tb = t.reshape(-1, 1).expand(yb.shape[0], 1)  # (B, 1)
            return self.m.net(torch.cat([yb, tb], dim=1)).reshape(y.shape)

    torch.manual_seed(3)
    m, y0, t = MLP(), torch.randn(5, 2), torch.linspace(0, 1, 4)
    term = to.ODETerm(PerSample(m))
    step, control = to.Dopri5(term=term), to.IntegralController(1e-11, 1e-11, term=term)
    backsolve = to.BacksolveAdjoint(term, step, control)

    def theirs(model, y, s):
        problem = to.InitialValueProblem(y0=y, t_eval=s.expand(y.shape[0], -1))
        return backsolve.solve(problem).ys.transpose(0, 1)  # (T, B, D)

    with torch.no_grad():
        assert torch.allclose(odeint(m, y0, t, rtol=1e-11, atol=1e-11), theirs(m, y0, t),
                              rtol=0, atol=1e-9)
    ours = _grads(odeint_adjoint, m, y0, t, rtol=1e-11, atol=1e-11)
    assert _max_rel(ours, _grads(theirs, m, y0, t)) < 1e-6
