"""RNN diagnostics (Table 2's baseline, paper sec. 5.1) against mathematics: a hand-built
RNN that repeats its input (persistence) on constant and straight-line spirals, where the
teacher-forced and rolled-out errors are known in closed form; the teacher-forced pass
against an independent step-by-step loop; the bins' partition of the future points and
their consistency with ``evaluate``'s pred_rmse; clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from neuralode_repro.config import parse
from neuralode_repro.data.spirals import SpiralBatch, SpiralConfig, generate_spirals
from neuralode_repro.experiments.latent import evaluate_saved
from neuralode_repro.models.latent import LatentConfig, RNNBaseline, build_model, evaluate
from neuralode_repro.models.rnn_diagnostics import (
    one_step_by_position,
    one_step_report,
    rollout_error_by_step,
    rollout_steps,
    teacher_forced_future,
    teacher_forced_future_rmse,
)

B, N, F, D = 3, 6, 23, 2  # spirals, observations, future points (23: no bins divides it)
DT = 0.05  # the window's grid step
T_OBS = torch.tensor([0.0, 0.1, 0.25, 0.3, 0.4, 0.45], dtype=torch.float64)  # (N,) on grid
T_FUT = 0.5 + DT * torch.arange(F, dtype=torch.float64)  # (F,) after the window
GAP = float(T_OBS.diff().mean())  # 0.09: the rollout's step, ~1.8 grid steps


def batch(velocity: float = 0.0, noise: float = 0.1) -> SpiralBatch:
    """Straight lines x(t) = c + v t (constant for v = 0), noisy at the observations."""
    g = torch.Generator().manual_seed(0)
    c = torch.randn(B, 1, D, generator=g, dtype=torch.float64)
    v = velocity * torch.tensor([1.0, -0.5], dtype=torch.float64)
    line = lambda t: c + v * t[None, :, None]  # noqa: E731  (B, T, D)
    x_obs_true = line(T_OBS)
    x_obs = x_obs_true + noise * torch.randn(B, N, D, generator=g, dtype=torch.float64)
    return SpiralBatch(x_obs, T_OBS.expand(B, -1), x_obs_true, T_FUT, line(T_FUT),
                       torch.zeros(B, dtype=torch.bool))


def persistence(rollout: str = "mean_gap", time_input: str = "gap") -> RNNBaseline:
    """An RNNBaseline whose prediction is exactly the value it reads: a ReLU cell keeps
    x's positive and negative parts in 4 units (h = relu(W x)), the readout subtracts
    them; no recurrence, the gap input unused."""
    cfg = parse(LatentConfig, {"model": "rnn", "rnn_hidden": 4, "rollout": rollout,
                               "time_input": time_input})
    m = build_model(cfg, noise_std=0.1, gap_scale=GAP)
    assert isinstance(m, RNNBaseline)
    m.rnn = nn.RNN(D + (time_input == "gap"), 4, batch_first=True, nonlinearity="relu")
    split = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    with torch.no_grad():
        for p in [*m.rnn.parameters(), *m.readout.parameters()]:
            p.zero_()
        m.rnn.weight_ih_l0[:, :D] = split
        m.readout.weight.copy_(split.T)
    return m.double()


def random_rnn(rollout: str = "mean_gap", time_input: str = "gap") -> RNNBaseline:
    torch.manual_seed(0)
    cfg = parse(LatentConfig, {"model": "rnn", "rollout": rollout, "time_input": time_input})
    m = build_model(cfg, noise_std=0.1, gap_scale=GAP)
    assert isinstance(m, RNNBaseline)
    return m.double()


VARIANTS = [("mean_gap", "gap"), ("mean_gap", "none"), ("grid", "gap")]


@pytest.mark.parametrize(("rollout", "time_input"), VARIANTS)
def test_persistence_on_a_constant_spiral(rollout: str, time_input: str) -> None:
    """Repeating the true previous value of a constant curve is exact (teacher-forced
    error 0); the rollout repeats the noisy last observation, so every future point's
    error is that observation's noise."""
    b, m = batch(velocity=0.0), persistence(rollout, time_input)
    assert teacher_forced_future_rmse(m, b) == pytest.approx(0.0, abs=1e-12)
    noise = b.x_obs[:, -1] - b.x_obs_true[:, -1]  # (B, D)
    expected = math.sqrt(float((noise**2).mean()))
    rows = rollout_error_by_step(m, b, bins=5)
    assert [r["rmse"] for r in rows] == pytest.approx([expected] * 5, rel=1e-12)
    assert [r["teacher_forced_rmse"] for r in rows] == pytest.approx([0.0] * 5, abs=1e-12)
    assert evaluate(m, b)["pred_rmse"] == pytest.approx(expected, rel=1e-12)


def test_persistence_on_a_line_lags_one_true_step() -> None:
    """Teacher-forced on the future grid (rollout: grid), persistence predicts x(t_j)
    by x(t_{j-1}): the error is |v| times each step's gap, exactly; the first step's
    gap runs from the last observation."""
    b, m = batch(velocity=2.0), persistence("grid")
    tf, stay = teacher_forced_future(m, b)
    prev = torch.cat([b.x_obs_true[:, -1:], b.x_future[:, :-1]], 1)  # (B, F, D)
    torch.testing.assert_close(tf, prev, rtol=0, atol=1e-12)
    torch.testing.assert_close(stay, prev, rtol=0, atol=1e-12)
    gaps = torch.cat([T_FUT[:1] - T_OBS[-1], T_FUT.diff()])  # (F,)
    speed2 = 2.0**2 * (1 + 0.25) / D  # mean over D of v_d^2
    expected = math.sqrt(float((gaps**2).mean()) * speed2)
    assert teacher_forced_future_rmse(m, b) == pytest.approx(expected, rel=1e-10)


def test_persistence_teacher_forced_is_the_persistence_predictor() -> None:
    """With steps of gap_scale off the grid (mean_gap), the true inputs come from the
    linear interpolant, exact on a line: persistence's teacher-forced predictions and
    the persistence predictor agree to rounding."""
    b, m = batch(velocity=1.5), persistence("mean_gap")
    tf, stay = teacher_forced_future(m, b)
    torch.testing.assert_close(tf, stay, rtol=0, atol=1e-12)
    assert float((tf - b.x_future).abs().max()) > 0.01  # it lags


def _loop_teacher_forced(m: RNNBaseline, b: SpiralBatch, velocity: float) -> torch.Tensor:
    """An independent teacher-forced pass: RNNBaseline._step in a loop over the rollout's
    step times, reading the exact line's value, then predict's interpolation."""
    _, h = m._teacher_forced(b)
    v = velocity * torch.tensor([1.0, -0.5], dtype=torch.float64)
    c = b.x_obs_true[:, 0] - v * b.t_obs[:, 0, None]  # (B, D)
    t, path, times = b.t_obs[:, -1], [b.x_obs_true[:, -1]], [b.t_obs[:, -1]]
    grid = m.cfg.rollout == "grid"
    n_steps = F if grid else math.ceil(float(((T_FUT[-1] - t) / GAP).max()))
    for j in range(n_steps):
        t_next = T_FUT[j].expand_as(t) if grid else t + GAP
        x, h = m._step(c + v * t[:, None], t_next - t, h)
        path.append(x)
        times.append(t_next)
        t = t_next
    path_t, path_x = torch.stack(times, 1), torch.stack(path, 1)  # (B, J+1), (B, J+1, D)
    out = torch.empty_like(b.x_future)
    for i in range(B):
        for k in range(D):
            out[i, :, k] = torch.from_numpy(np.interp(T_FUT.numpy(), path_t[i].numpy(),
                                                      path_x[i, :, k].numpy()))
    return out


@pytest.mark.parametrize(("rollout", "time_input"), VARIANTS)
def test_teacher_forced_matches_a_step_by_step_loop(rollout: str, time_input: str) -> None:
    b, m = batch(velocity=1.0), random_rnn(rollout, time_input)
    with torch.no_grad():
        expected = _loop_teacher_forced(m, b, velocity=1.0)
    torch.testing.assert_close(teacher_forced_future(m, b)[0], expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("rollout", "time_input"), VARIANTS)
@pytest.mark.parametrize("bins", [1, 5, F])
def test_bins_partition_the_future_and_recombine_to_pred_rmse(rollout: str, time_input: str,
                                                              bins: int) -> None:
    b, m = batch(velocity=1.0), random_rnn(rollout, time_input)
    rows = rollout_error_by_step(m, b, bins=bins)
    assert [r["bin"] for r in rows] == list(range(bins))
    sizes = [r["n_points"] for r in rows]
    assert sum(sizes) == F and max(sizes) - min(sizes) <= 1  # each point once, even split
    firsts = np.cumsum([0, *sizes[:-1]])
    assert [r["t_from"] for r in rows] == pytest.approx(T_FUT[firsts].tolist())
    assert [r["t_to"] for r in rows] == pytest.approx(T_FUT[firsts + np.array(sizes) - 1].tolist())
    mean_sq = lambda key: sum(r[key] ** 2 * r["n_points"] for r in rows) / F  # noqa: E731
    assert math.sqrt(mean_sq("rmse")) == pytest.approx(evaluate(m, b)["pred_rmse"], rel=1e-9)
    assert math.sqrt(mean_sq("teacher_forced_rmse")) == pytest.approx(
        teacher_forced_future_rmse(m, b), rel=1e-9)
    steps = rollout_steps(m, b)  # (B, F)
    if rollout == "grid":
        assert steps[0].tolist() == list(range(1, F + 1))
    else:
        torch.testing.assert_close(steps, (T_FUT - T_OBS[-1]).expand(B, -1) / GAP)
    for r, idx in zip(rows, torch.arange(F).tensor_split(bins), strict=True):
        assert r["rollout_steps"] == pytest.approx(float(steps[:, idx].mean()))


def test_one_step_reports_against_persistence() -> None:
    """Persistence reads the noisy previous observation: its one-step error on the
    observed points is the persistence predictor's; on the future, teacher-forced, the
    true step's."""
    b, m = batch(velocity=1.0), persistence()
    r = one_step_report(m, b)
    assert r["obs_one_step_true"] == pytest.approx(r["obs_persistence_true"], rel=1e-12)
    assert r["future_one_step"] == pytest.approx(r["future_persistence"], rel=1e-12)
    rows = one_step_by_position(m, b, bins=2)
    assert [(x["pos_from"], x["pos_to"]) for x in rows] == [(1, 3), (4, 5)]
    jump = ((b.x_obs[:, 1:] - b.x_obs[:, :-1]) ** 2).mean(-1)  # (B, N - 1)
    assert [x["rmse_noisy"] for x in rows] == pytest.approx(
        [math.sqrt(float(jump[:, :3].mean())), math.sqrt(float(jump[:, 3:].mean()))])


def test_clear_errors() -> None:
    b, m = batch(), random_rnn()
    with pytest.raises(ValueError, match=r"bins must lie in \[1, 23\].*got 0"):
        rollout_error_by_step(m, b, bins=0)
    with pytest.raises(ValueError, match=r"bins must lie in \[1, 23\].*got 24"):
        rollout_error_by_step(m, b, bins=24)
    with pytest.raises(ValueError, match=r"bins must lie in \[1, 5\]"):
        one_step_by_position(m, b, bins=6)
    ode = build_model(LatentConfig(), noise_std=0.1)
    with pytest.raises(TypeError, match="need an RNNBaseline.*got LatentODE"):
        teacher_forced_future_rmse(ode, b)  # type: ignore[arg-type]


def test_evaluate_saved_adds_the_rnn_diagnostics_only_for_the_rnn() -> None:
    data = generate_spirals(parse(SpiralConfig, {"n_spirals": 16, "n_obs": [30],
                                                 "test_fraction": 0.25}), seed=0)
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    rnn = build_model(LatentConfig(model="rnn"), noise_std=0.1, gap_scale=0.06)
    scores = evaluate_saved(rnn, data, 30, cpu)
    assert len(scores["rollout_rmse_by_step"]) == len(scores["rollout_steps_by_bin"]) == 10
    assert math.sqrt(np.mean(np.square(scores["rollout_rmse_by_step"]))) == pytest.approx(
        scores["pred_rmse"], rel=1e-5)  # 100 future points: equal bins of 10
    assert np.all(np.diff(scores["rollout_steps_by_bin"]) > 0)
    assert 0 < scores["teacher_forced_future_rmse"]
    ode = evaluate_saved(build_model(LatentConfig(), noise_std=0.1), data, 30, cpu)
    assert not {"teacher_forced_future_rmse", "rollout_rmse_by_step",
                "rollout_steps_by_bin"} & set(ode)
