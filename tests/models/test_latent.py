"""Latent ODE and RNN baseline (paper sec. 5, Table 2): shapes, the ELBO's terms against
torch.distributions, the union-of-times solve against per-sample solves, adjoint vs
direct gradients, a few Adam steps lowering the loss, and strict configuration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from neuralode import odeint
from neuralode_repro.config import ConfigError, parse
from neuralode_repro.data.spirals import SpiralBatch, SpiralConfig, generate_spirals, make_batch
from neuralode_repro.models.latent import (
    LatentConfig,
    LatentODE,
    RNNBaseline,
    build_model,
    evaluate,
    gaussian_log_likelihood,
    mean_gap,
    rmse,
    time_gaps,
)

SIGMA = 0.1


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    cfg = parse(SpiralConfig, {"n_spirals": 16, "n_obs": [30, 100], "test_fraction": 0.25})
    return generate_spirals(cfg, seed=0)


def model(gap_scale: float = 1.0, **params: object) -> LatentODE | RNNBaseline:
    torch.manual_seed(0)
    return build_model(parse(LatentConfig, params), noise_std=SIGMA, gap_scale=gap_scale)


def test_shapes(data: dict[str, np.ndarray]) -> None:
    batch = make_batch(data, 30, np.arange(8))
    for name in ("latent_ode", "rnn"):
        m = model(model=name)
        loss, logs = m.loss(batch)
        assert loss.shape == () and torch.isfinite(loss)
        assert all(isinstance(v, float) and np.isfinite(v) for v in logs.values())
        pred = m.predict(batch)
        assert pred.recon.shape == (8, 30, 2) and pred.future.shape == (8, 100, 2)
        assert set(evaluate(m, batch)) == {"pred_rmse", "recon_rmse", "recon_rmse_noisy"}
    m = model()
    assert isinstance(m, LatentODE)
    mean, logvar = m.encode(batch)
    assert mean.shape == logvar.shape == m.predict(batch).z0_mean.shape == (8, 4)
    times = torch.linspace(-1.0, 2.0, 7)
    assert m.latent_trajectory(mean, times).shape == (8, 7, 4)
    assert m.decode_path(mean, times).shape == (8, 7, 2)


def test_elbo_terms_match_torch_distributions(data: dict[str, np.ndarray]) -> None:
    batch = make_batch(data, 30, np.arange(8))
    m = model()
    _, logs = m.loss(batch)
    mean, logvar = m.encode(batch)
    kl = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1).mean()
    assert logs["kl"] == pytest.approx(kl.item(), rel=1e-5)
    assert logs["elbo"] == pytest.approx(logs["logpx"] - logs["kl"], rel=1e-6)
    x, mu = torch.randn(3, 5, 2), torch.randn(3, 5, 2)
    ref = Normal(mu, SIGMA).log_prob(x).sum((1, 2))
    torch.testing.assert_close(gaussian_log_likelihood(x, mu, SIGMA), ref)


def test_recognition_rnn_reads_pairs_backward_in_time(data: dict[str, np.ndarray]) -> None:
    """Eq. 11 written out: h <- tanh(W_ih [x_i, t_i - t_(i-1)] + W_hh h + b), i = n-1..0."""
    batch = make_batch(data, 30, np.arange(3))
    m = model()
    rnn = m.encoder.rnn
    h = torch.zeros(3, 25)
    gaps = time_gaps(batch.t_obs)
    for i in reversed(range(30)):
        inp = torch.cat([batch.x_obs[:, i], gaps[:, i:i + 1]], 1)
        h = torch.tanh(inp @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T
                       + rnn.bias_hh_l0)
    mean, logvar = m.encode(batch)
    torch.testing.assert_close(torch.cat([mean, logvar], 1), m.encoder.out(h))


def test_union_solve_equals_per_sample_solves(data: dict[str, np.ndarray]) -> None:
    """One solve over the batch's union of times, gathered, = each spiral on its own."""
    batch = make_batch(data, 30, np.arange(4), dtype=torch.float64)
    m = model(solver={"adjoint": False, "rtol": 1e-9, "atol": 1e-9})
    m.double()
    pred = m.predict(batch)
    for i in range(4):
        z0 = pred.z0_mean[i:i + 1]
        t = torch.cat([batch.t_obs[i], batch.t_future])
        start = int(t[0] > 0)  # z0 is z(t=0): prepend 0 unless observed there
        t = torch.cat([torch.zeros(start, dtype=torch.float64), t])
        zs = odeint(m.func, z0, t, rtol=1e-9, atol=1e-9)[start:, 0]  # (n + F, L)
        x = m.decoder(zs)
        torch.testing.assert_close(pred.recon[i], x[:30], rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(pred.future[i], x[30:], rtol=1e-6, atol=1e-7)


def test_latent_trajectory_negative_times_run_backward(data: dict[str, np.ndarray]) -> None:
    m = model(solver={"adjoint": False, "rtol": 1e-8, "atol": 1e-8})
    z0 = torch.randn(3, 4, dtype=torch.float64)
    m.double()
    zs = m.latent_trajectory(z0, torch.tensor([-1.0, -0.5, 0.0, 0.7], dtype=torch.float64))
    torch.testing.assert_close(zs[:, 2], z0)
    back = odeint(m.func, zs[:, 0], torch.tensor([-1.0, -0.5, 0.0, 0.7], dtype=torch.float64),
                  rtol=1e-8, atol=1e-8).transpose(0, 1)  # forward from z(-1)
    torch.testing.assert_close(back, zs, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="strictly increasing"):
        m.latent_trajectory(z0, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))


def test_adjoint_and_direct_gradients_agree(data: dict[str, np.ndarray]) -> None:
    batch = make_batch(data, 30, np.arange(4), dtype=torch.float64)
    grads = []
    for adjoint in (True, False):
        m = model(solver={"adjoint": adjoint, "rtol": 1e-8, "atol": 1e-8})
        m.double()
        torch.manual_seed(1)  # same z0 sample
        loss, _ = m.loss(batch)
        grads.append(torch.autograd.grad(loss, list(m.parameters())))
    for ga, gd in zip(*grads, strict=True):  # both errors shrink with the tolerances
        assert float((ga - gd).norm() / gd.norm()) < 1e-4


@pytest.mark.parametrize("method", ["adams", "vode_adams"])
def test_adams_family_gives_the_same_gradients(data: dict[str, np.ndarray], method: str) -> None:
    """The paper's solver family is selectable by params alone; its adjoint gradients
    agree with dopri5's direct backprop as the tolerances tighten."""
    batch = make_batch(data, 30, np.arange(4), dtype=torch.float64)
    grads = []
    for solver in ({"method": method, "rtol": 1e-9, "atol": 1e-9},
                   {"adjoint": False, "rtol": 1e-9, "atol": 1e-9}):
        m = model(solver=solver)
        m.double()
        torch.manual_seed(1)  # same z0 sample
        loss, _ = m.loss(batch)
        grads.append(torch.autograd.grad(loss, list(m.parameters())))
    for ga, gd in zip(*grads, strict=True):
        assert float((ga - gd).norm() / gd.norm()) < 1e-4


@pytest.mark.parametrize("params", [
    {"model": "latent_ode", "solver": {"adjoint": False}},
    {"model": "latent_ode", "encoder": "gru"},  # adjoint (the default)
    {"model": "rnn"},
    {"model": "rnn", "encoder": "gru"},
])
def test_loss_decreases_over_a_few_adam_steps(data: dict[str, np.ndarray],
                                              params: dict) -> None:
    batch = make_batch(data, 30, np.arange(16))
    m = model(**params)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)

    def loss_at(seed: int = 0) -> float:
        torch.manual_seed(seed)  # the same z0 sample before and after
        return m.loss(batch)[0].item()

    before = loss_at()
    for step in range(15):
        torch.manual_seed(100 + step)
        loss, _ = m.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss_at() < 0.8 * before


def test_predictions_never_use_the_future(data: dict[str, np.ndarray]) -> None:
    batch = make_batch(data, 30, np.arange(4))
    moved = SpiralBatch(batch.x_obs, batch.t_obs, batch.x_obs_true, batch.t_future,
                        batch.x_future + 10.0, batch.clockwise)
    for name in ("latent_ode", "rnn"):
        m = model(model=name)
        torch.testing.assert_close(m.predict(moved).future, m.predict(batch).future)
        torch.manual_seed(0)
        a = m.loss(batch)[0]
        torch.manual_seed(0)
        assert m.loss(moved)[0] == a


def test_rnn_baseline_is_causal(data: dict[str, np.ndarray]) -> None:
    """The one-step-ahead prediction of x_i depends on x_{<i} only."""
    batch = make_batch(data, 30, np.arange(4))
    x = batch.x_obs.clone()
    x[:, 20:] += 5.0
    moved = SpiralBatch(x, batch.t_obs, batch.x_obs_true, batch.t_future, batch.x_future,
                        batch.clockwise)
    m = model(model="rnn")
    a, b = m.predict(batch).recon, m.predict(moved).recon
    torch.testing.assert_close(a[:, :21], b[:, :21])
    assert not torch.allclose(a[:, 21:], b[:, 21:])


def _rnn_steps(m: RNNBaseline, batch: SpiralBatch) -> int:
    """Autoregressive steps of one predict: RNN calls on one-step inputs."""
    calls = []
    hook = m.rnn.register_forward_hook(lambda _m, inp, _o: calls.append(inp[0].shape[1]))
    try:
        m.predict(batch)
    finally:
        hook.remove()
    return sum(1 for length in calls if length == 1)


def test_rnn_rolls_out_with_the_gaps_it_was_trained_on(data: dict[str, np.ndarray]) -> None:
    """The old rollout stepped one grid point at a time (100 steps, each ~1/3 of the
    mean training gap at n = 30); it now steps by the mean training gap and reads the
    future times off the path: ~horizon / gap steps, gaps fed normalised."""
    batch = make_batch(data, 30, np.arange(4))
    gap = mean_gap(make_batch(data, 30, data["train_idx"]).t_obs)
    h = float(batch.t_future[1] - batch.t_future[0])
    assert 2.5 * h < gap < 4.5 * h  # 100 window points, 30 observed
    m = model(model="rnn", gap_scale=gap)
    horizon = float((batch.t_future[-1] - batch.t_obs[:, -1]).max())
    assert _rnn_steps(m, batch) == int(np.ceil(horizon / gap)) < 60
    grid = model(model="rnn", gap_scale=gap, rollout="grid")
    assert _rnn_steps(grid, batch) == len(batch.t_future)
    # the normalised gap: the same net fed gap / gap_scale, whatever the time unit
    scaled = SpiralBatch(batch.x_obs, 3 * batch.t_obs, batch.x_obs_true, 3 * batch.t_future,
                         batch.x_future, batch.clockwise)
    torch.testing.assert_close(model(model="rnn", gap_scale=3 * gap).predict(scaled).future,
                               m.predict(batch).future)


def test_mean_gap_rollout_interpolates_its_own_path(data: dict[str, np.ndarray]) -> None:
    """With every window point observed the mean gap is one grid step, so the mean-gap
    rollout lands on every future time: it equals the grid rollout exactly. With a gap
    of two grid steps, every other future time is the mean of its neighbours (the
    first: of the last observation and the first step)."""
    full = make_batch(data, 100, np.arange(4))
    h = float(full.t_future[1] - full.t_future[0])
    gap = mean_gap(full.t_obs)
    assert gap == pytest.approx(h, rel=1e-5)
    a = model(model="rnn", gap_scale=gap).predict(full).future
    b = model(model="rnn", gap_scale=gap, rollout="grid").predict(full).future
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    two = model(model="rnn", gap_scale=2 * gap).predict(full).future  # (B, F, D)
    # future k sits at k + 1 grid steps past the last observation: odd k on the path
    torch.testing.assert_close(two[:, 2:-1:2], (two[:, 1:-2:2] + two[:, 3::2]) / 2,
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(two[:, 0], (full.x_obs[:, -1] + two[:, 1]) / 2,
                               rtol=1e-4, atol=1e-5)


def test_rnn_without_time_input(data: dict[str, np.ndarray]) -> None:
    """The variant without the time gap: inputs are the observations alone, so moving
    the observation times changes nothing but the rollout's read-off."""
    batch = make_batch(data, 30, np.arange(4))
    m = model(model="rnn", time_input="none")
    assert m.rnn.input_size == 2 and model(model="rnn").rnn.input_size == 3
    shifted = SpiralBatch(batch.x_obs, batch.t_obs * 0.9, batch.x_obs_true, batch.t_future,
                          batch.x_future, batch.clockwise)
    torch.testing.assert_close(m.predict(batch).recon, m.predict(shifted).recon)
    assert m.predict(batch).future.shape == (4, 100, 2)
    with pytest.raises(ConfigError, match=r"rollout: 'grid' steps to each future time, which "
                                          r"an RNN without a time input"):
        parse(LatentConfig, {"model": "rnn", "time_input": "none", "rollout": "grid"})
    with pytest.raises(ValueError, match=r"gap_scale must be > 0 .*got 0\.0"):
        model(model="rnn", gap_scale=0.0)


def test_helpers() -> None:
    t = torch.tensor([[0.5, 1.0, 2.5], [0.0, 0.25, 0.5]])
    torch.testing.assert_close(time_gaps(t), torch.tensor([[0.5, 0.5, 1.5], [0.0, 0.25, 0.25]]))
    assert rmse(torch.zeros(2, 3, 2), torch.full((2, 3, 2), 3.0)) == pytest.approx(3.0)


def test_variants_reachable_by_params_alone() -> None:
    tutorial = model(encoder="gru", latent_dim=6, rnn_hidden=64, ode_hidden=64, ode_layers=2,
                     decoder_hidden=64)
    assert isinstance(tutorial, LatentODE)
    assert isinstance(tutorial.encoder.rnn, torch.nn.GRU)
    assert tutorial.encoder.rnn.hidden_size == 64 and tutorial.encoder.out.out_features == 12
    assert [mod.out_features for mod in tutorial.func.net if hasattr(mod, "out_features")] == [
        64, 64, 6]
    paper = model()
    assert isinstance(paper.encoder.rnn, torch.nn.RNN) and paper.encoder.rnn.hidden_size == 25
    assert [mod.out_features for mod in paper.func.net if hasattr(mod, "out_features")] == [20, 4]
    assert isinstance(model(model="rnn"), RNNBaseline)


@pytest.mark.parametrize(("params", "match"), [
    ({"encoder": "lstm"}, r"encoder: expected one of 'rnn', 'gru', got 'lstm'"),
    ({"model": "ode_rnn"}, r"model: expected one of 'latent_ode', 'rnn'"),
    ({"latent_dim": 0}, r"latent_dim: must be >= 1, got 0"),
    ({"rnn_hidden": 2.5}, r"rnn_hidden: expected an integer"),
    ({"solver": {"rtol": 2}}, r"solver.rtol: must be <= 1"),
    ({"solver": {"method": "rk45"}}, r"unknown solver 'rk45'"),
    ({"hidden": 25}, r"unknown key\(s\) 'hidden'"),
])
def test_config_rejects_bad_values(params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse(LatentConfig, params)


def test_build_model_needs_a_positive_noise() -> None:
    with pytest.raises(ValueError, match="noise_std must be > 0"):
        build_model(LatentConfig(), noise_std=0.0)
