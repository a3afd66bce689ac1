"""MNIST models of paper sec. 3 / Table 1: shapes, parameter counts, one training
step, NFE bookkeeping, adjoint vs direct gradients, config, evaluation."""

import pytest
import torch
from torch import nn

from neuralode import collect_stats
from neuralode_repro.config import ConfigError, SolverConfig, parse
from neuralode_repro.models.mnist import (
    MnistModelConfig,
    ODEBlock,
    build_model,
    count_parameters,
    evaluate,
    loss_fn,
)

KINDS = ["odenet", "rknet", "resnet", "mlp"]


def _batch(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def _model(seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(MnistModelConfig(**kw))


def _expected_counts(c: int = 64) -> dict[str, int]:
    """Parameter counts from the architecture, layer by layer."""
    gn = 2 * c                                  # GroupNorm affine
    res_block = 2 * (9 * c * c) + 2 * gn        # two bias-free 3x3 convs, two norms
    down = (9 + 1) * c + 2 * (res_block + c * c)  # stem conv; two blocks + 1x1 shortcuts
    ode_func = 2 * (9 * (c + 1) * c + c) + 3 * gn  # two ConcatConv2d (with bias), 3 norms
    head = gn + c * 10 + 10
    return {"odenet": down + ode_func + head, "resnet": down + 6 * res_block + head,
            "mlp": 784 * 300 + 300 + 300 * 10 + 10}


def test_parameter_counts_match_architecture_and_paper():
    counts = {k: count_parameters(_model(kind=k)) for k in KINDS}
    expected = _expected_counts()
    assert counts["odenet"] == counts["rknet"] == expected["odenet"] == 232_970
    assert counts["resnet"] == expected["resnet"] == 601_482
    assert counts["mlp"] == expected["mlp"] == 238_510
    paper = {"odenet": 0.22e6, "rknet": 0.22e6, "resnet": 0.60e6, "mlp": 0.24e6}
    for kind, n in counts.items():
        assert abs(n - paper[kind]) / paper[kind] < 0.06, (kind, n)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("downsampling,hw", [("res", 7), ("conv", 6)])
def test_output_shapes(kind, downsampling, hw):
    model = _model(kind=kind, downsampling=downsampling)
    x, _ = _batch(3)
    assert model(x).shape == (3, 10)
    if kind != "mlp":
        assert model.downsample(x).shape == (3, 64, hw, hw)


@pytest.mark.parametrize("kind", KINDS)
def test_one_training_step_reduces_loss(kind):
    model = _model(kind=kind)
    batch = _batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss0, logs = loss_fn(model, batch)
    assert set(logs) == {"accuracy"} and 0.0 <= logs["accuracy"] <= 1.0
    opt.zero_grad()
    loss0.backward()
    opt.step()
    with torch.no_grad():
        loss1, _ = loss_fn(model, batch)
    assert float(loss1) < float(loss0.detach())


@pytest.mark.parametrize("kind,backward", [("odenet", True), ("rknet", False),
                                           ("resnet", None), ("mlp", None)])
def test_nfe_recorded(kind, backward):
    model = _model(kind=kind)
    with collect_stats() as s:
        loss, _ = loss_fn(model, _batch(8))
        loss.backward()
    if backward is None:
        assert s.nfe_forward == s.nfe_backward == 0
    else:
        assert s.nfe_forward >= 6  # at least one dopri5 step
        assert (s.nfe_backward > 0) is backward


def test_adjoint_gradients_converge_to_direct_backprop():
    """ODE-Net (adjoint) and RK-Net (direct) gradients differ only by the backward
    solve's discretisation error (paper sec. 2), which vanishes as the rk4 step shrinks.
    ReLU kinks in f lower the observed order below 4, so only convergence is checked."""
    batch = _batch(4)
    errors = []
    for h in (0.25, 0.125, 0.0625):
        grads = {}
        for kind in ("odenet", "rknet"):
            model = _model(kind=kind, solver=SolverConfig(method="rk4", step_size=h))
            loss, _ = loss_fn(model, batch)
            loss.backward()
            grads[kind] = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        a, d = grads["odenet"], grads["rknet"]
        errors.append(float((a - d).norm() / d.norm()))
    assert errors[0] > 2 * errors[1] > 4 * errors[2]
    assert errors[2] < 1e-2


@pytest.mark.parametrize("method", ["adams", "vode_adams"])
def test_odenet_trains_with_the_adams_family(method):
    """Both Adams solvers drive the ODE-Net through the pipeline's solver params; their
    adjoint gradients agree with dopri5's to the tolerance's order. At tol 1e-6 in float32,
    dopri5's own gradient is 8e-3 (relative) from its tol-1e-8 answer, adams' 3e-3 and
    vode_adams' 1e-3; a wrong adjoint is off by O(1)."""
    batch = _batch(4)
    grads = {}
    for m in ("dopri5", method):
        model = _model(kind="odenet", solver=parse(SolverConfig, {"method": m, "rtol": 1e-6,
                                                                  "atol": 1e-6}))
        with collect_stats() as stats:
            loss, _ = loss_fn(model, batch)
            loss.backward()
        assert stats.nfe_forward > 0 and stats.nfe_backward > 0
        grads[m] = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    ref = grads["dopri5"]
    assert float((grads[method] - ref).norm() / ref.norm()) < 2e-2


def test_kind_decides_adjoint():
    cfg = MnistModelConfig(kind="rknet", solver=SolverConfig(adjoint=True))
    assert cfg.effective_solver().adjoint is False
    block = build_model(cfg).features
    assert isinstance(block, ODEBlock) and block.solver.adjoint is False
    assert build_model(MnistModelConfig(kind="odenet")).features.solver.adjoint is True


def test_tutorial_variant_by_config_values():
    """The tutorial notebook: Euler, step 0.05, BatchNorm, conv downsampling."""
    cfg = parse(MnistModelConfig, {"kind": "odenet", "downsampling": "conv", "norm": "batch",
                                   "solver": {"method": "euler", "step_size": 0.05}}, "mnist")
    model = _model(**{f: getattr(cfg, f) for f in ("kind", "downsampling", "norm", "solver")})
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, nn.GroupNorm) for m in model.modules())
    with collect_stats() as s:
        out = model(_batch(4)[0])
    assert out.shape == (4, 10) and s.nfe_forward == 20  # 1 / 0.05 Euler steps


def test_config_is_strict():
    with pytest.raises(ConfigError, match=r"mnist: unknown key\(s\) 'depth'"):
        parse(MnistModelConfig, {"depth": 3}, "mnist")
    with pytest.raises(ConfigError, match=r"mnist.kind: expected one of 'odenet'"):
        parse(MnistModelConfig, {"kind": "densenet"}, "mnist")
    with pytest.raises(ConfigError, match=r"mnist.width: must be > 0"):
        parse(MnistModelConfig, {"width": 0}, "mnist")
    with pytest.raises(ConfigError, match=r"mnist.solver: step_size applies to fixed-grid"):
        parse(MnistModelConfig, {"solver": {"step_size": 0.1}}, "mnist")


def test_narrow_width_and_group_count():
    model = _model(kind="odenet", width=16)
    assert model(_batch(2)[0]).shape == (2, 10)
    norms = [m for m in model.modules() if isinstance(m, nn.GroupNorm)]
    assert norms and all(m.num_groups == 16 for m in norms)  # min(32, C)


def test_evaluate_error_percent_and_mode_restored():
    model = _model(kind="mlp")
    x, _ = _batch(10)
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1)
    model.train()
    right = [(x[:6], pred[:6]), (x[6:], pred[6:])]
    wrong = [(x, (pred + 1) % 10)]
    assert evaluate(model, right) == 0.0
    assert evaluate(model, wrong) == 100.0
    assert evaluate(model, [(x[:5], pred[:5]), (x[5:], (pred[5:] + 1) % 10)]) == 50.0
    assert model.training
    with pytest.raises(ValueError, match="no samples"):
        evaluate(model, [])
