"""Continuous normalizing flows (paper sec. 4, Theorem 1, Appendix A.1) and the planar
NF baseline (Rezende & Mohamed 2015), tested against the change-of-variables maths."""

import math

import numpy as np
import pytest
import torch
from scipy.linalg import expm
from torch import nn

from neuralode_repro.config import ConfigError, SolverConfig, parse
from neuralode_repro.data.toy2d import PotentialConfig, Toy2DConfig, grid
from neuralode_repro.models.cnf import (
    CNF,
    FlowConfig,
    PlanarCNF,
    PlanarField,
    build_flow,
    divergence_exact,
    divergence_hutchinson,
    hutchinson_noise,
    kl_loss,
    nll_loss,
)
from neuralode_repro.models.flows import PlanarLayer, PlanarNF, check_fractions

TIGHT = SolverConfig(rtol=1e-9, atol=1e-9, adjoint=False)


class Linear(nn.Module):
    def __init__(self, A):
        super().__init__()
        self.A = nn.Parameter(A)

    def forward(self, t, z):
        return z @ self.A.T


@pytest.mark.parametrize(("method", "adjoint"), [("dopri5", False), ("dopri5", True),
                                                  ("adams", False), ("vode_adams", True)])
def test_linear_flow_matches_analytic_change_of_variables(f64, method, adjoint):
    # dz/dt = A z: z(t) = expm(tA) z0 and log p(z(t)) = log p(z0) - t tr(A)
    A = torch.tensor([[-0.3, 1.2], [-0.8, 0.5]])
    flow = CNF(Linear(A), solver=SolverConfig(method=method, rtol=1e-10, atol=1e-10,
                                              adjoint=adjoint))
    z0, lp0 = torch.randn(6, 2), torch.randn(6)
    zs, lps = flow(z0, lp0, [0.0, 0.7, 1.5])
    for k, t in enumerate([0.0, 0.7, 1.5]):
        torch.testing.assert_close(zs[k], z0 @ torch.from_numpy(expm(t * A.numpy())).T)
        torch.testing.assert_close(lps[k], lp0 - t * torch.trace(A))


def test_hutchinson_probe_is_fixed_within_one_solve(f64):
    # for a linear field the estimate e^T A e is constant along the path, so a probe
    # held fixed gives exactly log p(z1) = log p(z0) - t e^T A e
    A = torch.tensor([[0.4, 2.0], [-1.0, -0.1]])
    flow = CNF(Linear(A), solver=TIGHT, trace="hutchinson", noise="gaussian")
    z0 = torch.randn(5, 2)
    torch.manual_seed(7)
    e = hutchinson_noise(z0, "gaussian")
    torch.manual_seed(7)
    _, lps = flow(z0, torch.zeros(5), [0.0, 2.0])
    torch.testing.assert_close(lps[-1], -2.0 * ((e @ A) * e).sum(1))


@pytest.mark.parametrize("kind", ["rademacher", "gaussian"])
def test_exact_trace_is_the_mean_of_hutchinson(kind):
    torch.manual_seed(0)
    field, n, b = PlanarField(3, 8, 16), 20_000, 4
    z = (2 * torch.randn(b, 3)).repeat(n, 1).requires_grad_(True)  # (n * b, 3)
    t = torch.tensor(0.3)
    f = field(t, z)
    exact = divergence_exact(f, z)[:b]
    est = divergence_hutchinson(f, z, hutchinson_noise(z, kind)).view(n, b)
    sem = est.std(0) / math.sqrt(n)
    assert ((est.mean(0) - exact).abs() < 5 * sem).all()
    assert (est.std(0) > 0).all()  # a real estimator, not the exact trace in disguise


@pytest.mark.parametrize(("units", "gate"), [("sum", "unit"), ("mean", "dimension"),
                                            ("sum", "dimension")])
def test_planar_field_analytic_trace_equals_autograd_trace(units, gate):
    torch.manual_seed(1)
    field = PlanarField(2, 16, 8, units, gate)
    z, t = torch.randn(32, 2, requires_grad=True), torch.tensor(0.6)
    f, div = field.with_divergence(t, z)
    torch.testing.assert_close(f, field(t, z))
    torch.testing.assert_close(div, divergence_exact(field(t, z), z))


def test_gist_field_options_are_the_formula():
    """``units: mean`` is the sum over units / M; ``gate: dimension`` gates u_m per
    output dimension (the authors' gist), written out from the hypernetwork output."""
    torch.manual_seed(2)
    m, d = 6, 2
    field = PlanarField(d, m, 8, "mean", "dimension")
    assert field.hyper[-1].out_features == m * (2 * d + 1) + m * d
    z, t = torch.randn(5, d), torch.tensor(0.3)
    p = field.hyper(t.reshape(1, 1)).reshape(-1)
    w, u = p[: m * d].view(m, d), p[m * d: 2 * m * d].view(m, d)
    b, g = p[2 * m * d: 2 * m * d + m], p[2 * m * d + m:].view(m, d)
    want = sum(torch.sigmoid(g[k]) * u[k] * torch.tanh(z @ w[k] + b[k])[:, None]
               for k in range(m)) / m  # (B, D)
    torch.testing.assert_close(field(t, z), want)
    assert PlanarField(d, m, 8).hyper[-1].out_features == 2 * m * (d + 1)  # sum, per unit


def test_analytic_trace_needs_the_field_to_provide_it():
    with pytest.raises(ValueError, match="trace='analytic' needs Linear.with_divergence"):
        CNF(Linear(torch.eye(2)), trace="analytic")


def test_cnf_adjoint_gradients_match_backprop(f64):
    torch.manual_seed(2)
    x = torch.randn(8, 2)
    grads = []
    for adjoint in (False, True):
        torch.manual_seed(3)
        model = PlanarCNF(2, 4, 8, solver=SolverConfig(rtol=1e-9, atol=1e-9, adjoint=adjoint))
        model.zero_grad()
        nll_loss(model, x)[0].backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("trace", ["exact", "analytic"])
def test_cnf_adjoint_gradient_matches_a_directional_difference(f64, trace):
    # the trace term must carry its own gradient (create_graph inside the dynamics)
    torch.manual_seed(11)
    model = PlanarCNF(2, 3, 4, trace=trace,
                      solver=SolverConfig(rtol=1e-10, atol=1e-10, adjoint=True))
    x = torch.randn(6, 2)
    model.log_prob(x).sum().backward()
    params = list(model.parameters())
    v = [torch.randn_like(p) for p in params]
    slope = sum(float((p.grad * d).sum()) for p, d in zip(params, v, strict=True))
    eps, values = 1e-5, []
    with torch.no_grad():
        for sign in (1, -1):
            for p, d in zip(params, v, strict=True):
                p += sign * eps * d
            values.append(float(model.log_prob(x).sum()))
            for p, d in zip(params, v, strict=True):
                p -= sign * eps * d
    assert slope == pytest.approx((values[0] - values[1]) / (2 * eps), rel=1e-6)


def test_planar_logdet_matches_autograd_jacobian(f64):
    torch.manual_seed(4)
    layer = PlanarLayer(3)
    with torch.no_grad():  # w^T u = -4.5: the constraint must move u to u_hat
        layer.u.copy_(-1.5 * layer.w / (layer.w @ layer.w) * 3)
        layer.b.fill_(0.3)
    for z in torch.randn(5, 3):
        jac = torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], z)
        _, logdet = layer(z[None])
        torch.testing.assert_close(logdet[0], torch.logdet(jac))


def test_invertibility_constraint_gives_wu_hat_at_least_minus_one():
    torch.manual_seed(5)
    layer = PlanarLayer(2)
    for scale in (-100.0, -10.0, -1.0, 0.0, 1.0, 10.0):
        for _ in range(20):
            with torch.no_grad():
                layer.w.copy_(torch.randn(2))
                layer.u.copy_(scale * layer.w + torch.randn(2))
                wu_hat = layer.wu_hat()
                assert wu_hat >= -1.0  # the value the layer uses, exact in float32
                # u_hat itself satisfies it up to float32 rounding of the dot product
                assert layer.w @ layer.u_hat() >= -1.0 - 1e-6 * (1 + abs(layer.w @ layer.u))
                torch.testing.assert_close(layer.w @ layer.u_hat(), wu_hat,
                                           atol=1e-6 * (1 + abs(float(layer.w @ layer.u))),
                                           rtol=1e-5)


@pytest.mark.parametrize("wu", [-0.999, 0.0, 5.0])
def test_planar_layer_inverse_roundtrip(f64, wu):
    torch.manual_seed(6)
    layer = PlanarLayer(2)
    with torch.no_grad():  # choose u so that w^T u_hat = wu (-0.999: nearly singular)
        layer.w.copy_(torch.tensor([1.5, -0.5]))
        layer.u.copy_(math.log(math.expm1(wu + 1)) * layer.w / (layer.w @ layer.w))
        layer.b.fill_(-0.2)
    assert layer.wu_hat().item() == pytest.approx(wu)
    z = 3 * torch.randn(200, 2)
    y, logdet = layer(z)
    z_back, logdet_back = layer.inverse(y)
    torch.testing.assert_close(z_back, z, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(logdet_back, logdet, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("direction", ["generative", "normalizing"])
def test_nf_log_prob_gradients_match_finite_differences(f64, direction):
    # generative: log_prob inverts each layer by Newton; its gradients come from the
    # implicit function theorem (one Newton step with graph) and must match differences
    torch.manual_seed(10)
    model = PlanarNF(2, 3, direction=direction)
    x = torch.randn(4, 2)
    model.log_prob(x).sum().backward()
    eps = 1e-6
    with torch.no_grad():
        for p in model.parameters():
            flat, grad = p.view(-1), p.grad.view(-1)
            for i in range(flat.numel()):
                flat[i] += eps
                up = model.log_prob(x).sum()
                flat[i] -= 2 * eps
                down = model.log_prob(x).sum()
                flat[i] += eps
                assert float(grad[i]) == pytest.approx(float(up - down) / (2 * eps),
                                                       rel=1e-5, abs=1e-7)


def _models():
    """Small untrained flows that move the density well away from the base."""
    torch.manual_seed(8)
    solver = SolverConfig(rtol=1e-7, atol=1e-7, adjoint=False)
    models = {"cnf": PlanarCNF(2, 4, 8, solver=solver),
              "nf-generative": PlanarNF(2, 6),
              "nf-normalizing": PlanarNF(2, 6, direction="normalizing")}
    with torch.no_grad():
        for name in ("nf-generative", "nf-normalizing"):
            for layer in models[name].layers:  # far from the near-identity init
                layer.w.copy_(torch.randn(2))
                layer.u.copy_(0.5 * torch.randn(2))
                layer.b.copy_(0.3 * torch.randn(()))
    torch.manual_seed(9)  # the authors' gist: mean over units, per-dimension gates, t1 = 10
    models["cnf-gist"] = PlanarCNF(2, 4, 8, t1=10.0, solver=solver, units="mean",
                                   gate="dimension")
    return models


@pytest.mark.parametrize("name", ["cnf", "cnf-gist", "nf-generative", "nf-normalizing"])
def test_log_prob_integrates_to_one(name):
    model = _models()[name]
    x, area = grid(lim=7.0, n=200)
    with torch.no_grad():
        log_q = model.log_prob(x)
        mass = float(log_q.exp().sum()) * area
    assert (log_q - model.base_log_prob(x)).abs().mean() > 0.5  # not the base in disguise
    assert mass == pytest.approx(1.0, abs=3e-3)


@pytest.mark.parametrize("name", ["cnf", "nf-generative", "nf-normalizing"])
def test_snapshots_agree_with_log_prob_at_each_fraction(name):
    model = _models()[name]
    z0 = model.sample_base(16, torch.Generator().manual_seed(0))
    fractions = [0.0, 0.5, 1.0]
    with torch.no_grad():
        xs, logq = model.snapshots(z0, fractions)
        assert xs.shape == (3, 16, 2) and logq.shape == (3, 16)
        torch.testing.assert_close(xs[0], z0)
        torch.testing.assert_close(logq[0], model.base_log_prob(z0))
        for k, fr in enumerate(fractions):
            torch.testing.assert_close(model.log_prob(xs[k], fr), logq[k], rtol=1e-4,
                                       atol=1e-4)
        torch.testing.assert_close(model.snapshots(z0, [1.0])[0][0], xs[-1])
        panels = model.log_prob_snapshots(xs[-1], [0.5, 1.0])  # (2, 16)
        torch.testing.assert_close(panels[1], logq[-1], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(panels[0], model.log_prob(xs[-1], 0.5))


def test_fractions_are_checked():
    with pytest.raises(ValueError, match="strictly increasing in \\[0, 1\\]"):
        check_fractions([0.5, 0.2])
    with pytest.raises(ValueError, match="strictly increasing in \\[0, 1\\]"):
        PlanarNF(2, 2).log_prob(torch.zeros(1, 2), 1.5)


@pytest.mark.parametrize("cfg", [
    {"kind": "cnf", "width": 8, "hidden": 8, "trace": "hutchinson",
     "solver": {"rtol": 1e-4, "atol": 1e-4}},
    {"kind": "cnf", "width": 8, "hidden": 8, "trace": "analytic",
     "solver": {"rtol": 1e-4, "atol": 1e-4, "adjoint": False}},
    {"kind": "nf", "width": 8},
    {"kind": "nf", "width": 8, "direction": "normalizing"},
])
def test_few_adam_steps_train_and_sample_finitely(cfg):
    torch.manual_seed(9)
    model = build_flow(parse(FlowConfig, cfg, "model"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    data, rng = Toy2DConfig("two_moons", noise=0.1), np.random.default_rng(0)
    energy = PotentialConfig("u1_ring").energy()
    for step in range(3):
        batch = data.sample(64, rng)
        loss, logs = nll_loss(model, batch) if step % 2 == 0 else \
            kl_loss(model, model.sample_base(64), energy, beta=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert math.isfinite(loss.item())
        assert all(isinstance(v, float) and math.isfinite(v) for v in logs.values())
    with torch.no_grad():
        assert torch.isfinite(model.sample(256)).all()


def test_kl_loss_is_zero_when_the_flow_is_the_target():
    # an identity flow (K=0 layers) with base N(0, I) and U = |z|^2 / 2 + log(2 pi)
    model = PlanarNF(2, 0)
    loss, logs = kl_loss(model, model.sample_base(100),
                         lambda z: 0.5 * (z ** 2).sum(1) + math.log(2 * math.pi))
    assert abs(loss.item()) < 1e-5 and logs["kl"] == pytest.approx(loss.item())


@pytest.mark.parametrize(("data", "match"), [
    ({"kind": "nf", "trace": "hutchinson"}, "trace applies to kind 'cnf' only"),
    ({"kind": "nf", "solver": {"rtol": 1e-5}}, "solver applies to kind 'cnf' only"),
    ({"kind": "cnf", "direction": "normalizing"}, "direction applies to kind 'nf' only"),
    ({"noise": "gaussian"}, "noise applies to trace 'hutchinson' only"),
    ({"width": 0}, r"model.width: must be >= 1"),
    ({"t1": 0.0}, r"model.t1: must be > 0"),
    ({"trace": "approx"}, "model.trace: expected one of 'exact', 'hutchinson', 'analytic'"),
    ({"kind": "realnvp"}, "expected one of 'cnf', 'nf'"),
    ({"solver": {"method": "nope"}}, "unknown solver 'nope'"),
    ({"depth": 3}, "unknown key.*'depth'"),
    ({"kind": "nf", "units": "mean"}, "units applies to kind 'cnf' only"),
    ({"gate": "layer"}, "model.gate: expected one of 'unit', 'dimension'"),
])
def test_flow_config_errors(data, match):
    with pytest.raises(ConfigError, match=match):
        parse(FlowConfig, data, "model")


def test_build_flow_uses_the_config():
    cfg = parse(FlowConfig, {"kind": "cnf", "width": 5, "hidden": 7, "t1": 2.0,
                             "solver": {"method": "rk4", "step_size": 0.1}}, "model")
    model = build_flow(cfg)
    assert isinstance(model, PlanarCNF) and model.t1 == 2.0
    assert model.cnf.field.width == 5 and model.cnf.solver.method == "rk4"
    nf = build_flow(FlowConfig(kind="nf", width=3, base_std=0.5))
    assert isinstance(nf, PlanarNF) and len(nf.layers) == 3 and nf.base_std == 0.5
