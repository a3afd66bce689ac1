"""Spiral data of the latent-ODE experiment (paper sec. 5.1): sampling, determinism,
balance, geometry and strict configuration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralode_repro.config import ConfigError, parse
from neuralode_repro.data.spirals import SpiralConfig, generate_spirals, make_batch, spiral_curves

SMALL = {"n_spirals": 40, "n_total": 400, "min_start": 20, "n_window": 60, "n_future": 50,
         "n_obs": [10, 25, 60], "test_fraction": 0.25}


@pytest.fixture(scope="module")
def cfg() -> SpiralConfig:
    return parse(SpiralConfig, SMALL)


@pytest.fixture(scope="module")
def data(cfg: SpiralConfig) -> dict[str, np.ndarray]:
    return generate_spirals(cfg, seed=0)


def test_shapes(cfg: SpiralConfig, data: dict[str, np.ndarray]) -> None:
    n, length = cfg.n_spirals, cfg.n_window + cfg.n_future
    assert data["t"].shape == (length,)
    assert data["true"].shape == data["noisy"].shape == (n, length, 2)
    assert data["clockwise"].shape == data["start_idx"].shape == (n,)
    for k in cfg.n_obs:
        assert data[f"obs_idx_{k}"].shape == (n, k)
    assert int(data["n_window"]) == cfg.n_window


def test_observation_times_strictly_increasing_and_before_future(
        cfg: SpiralConfig, data: dict[str, np.ndarray]) -> None:
    for k in cfg.n_obs:
        idx = data[f"obs_idx_{k}"]
        assert (np.diff(idx, axis=1) > 0).all()  # sorted, hence distinct
        assert idx.min() >= 0 and idx.max() < cfg.n_window
        batch = make_batch(data, k)
        assert (batch.t_obs.diff(dim=1) > 0).all()
        assert (batch.t_future.diff() > 0).all()
        assert batch.t_future[0] > batch.t_obs.max()
        assert batch.t_future.shape == (cfg.n_future,)
    assert (data[f"obs_idx_{cfg.n_window}"] == np.arange(cfg.n_window)).all()  # n = W: all
    idx = data["obs_idx_10"]  # irregular: the gaps are not all equal
    assert len(np.unique(np.diff(idx, axis=1))) > 1


def test_same_seed_identical_different_seed_differs(cfg: SpiralConfig,
                                                    data: dict[str, np.ndarray]) -> None:
    again, other = generate_spirals(cfg, seed=0), generate_spirals(cfg, seed=1)
    assert again.keys() == data.keys()
    for key in data:
        np.testing.assert_array_equal(again[key], data[key], err_msg=key)
    for key in ("noisy", "start_idx", "obs_idx_10", "test_idx", "clockwise"):
        assert not np.array_equal(other[key], data[key]), key


def test_direction_balance_and_stratified_split(cfg: SpiralConfig,
                                                data: dict[str, np.ndarray]) -> None:
    cw = data["clockwise"]
    assert cw.sum() == cfg.n_spirals // 2
    train, test = data["train_idx"], data["test_idx"]
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.union1d(train, test), np.arange(cfg.n_spirals))
    assert cw[test].sum() == (~cw[test]).sum() == 5  # 0.25 * 20 per direction
    assert cw[train].sum() == (~cw[train]).sum() == 15


def test_window_is_the_curve_and_noise_has_the_configured_scale(
        cfg: SpiralConfig, data: dict[str, np.ndarray]) -> None:
    _, cw, ccw = spiral_curves(cfg)
    for i in (0, 1, 2):
        curve = cw if data["clockwise"][i] else ccw
        s = data["start_idx"][i]
        np.testing.assert_allclose(data["true"][i], curve[s:s + len(data["t"])])
    noise = data["noisy"] - data["true"]
    assert abs(noise.std() - cfg.noise_std) < 0.01
    assert data["start_idx"].min() >= cfg.min_start
    assert data["start_idx"].max() <= cfg.n_total - len(data["t"])


def test_turning_direction_and_centres(cfg: SpiralConfig) -> None:
    """Angular velocity around each centre: negative for clockwise, positive otherwise."""
    _, cw, ccw = spiral_curves(cfg)
    for curve, centre, sign in ((cw, -cfg.centre, -1), (ccw, cfg.centre, 1)):
        rel = curve - np.array([centre, 0.0])
        vel = np.diff(curve, axis=0)
        cross = rel[:-1, 0] * vel[:, 1] - rel[:-1, 1] * vel[:, 0]
        assert (np.sign(cross[1:]) == sign).all()  # [0]: r = 0 at t = 0 (ccw)


def test_make_batch_slices(data: dict[str, np.ndarray]) -> None:
    rows = data["test_idx"][:4]
    b = make_batch(data, 25, rows, dtype=torch.float64)
    assert b.x_obs.shape == b.x_obs_true.shape == (4, 25, 2) and len(b) == 4
    obs = data["obs_idx_25"][rows]
    np.testing.assert_array_equal(b.x_obs.numpy(), data["noisy"][rows[:, None], obs])
    np.testing.assert_array_equal(b.t_obs.numpy(), data["t"][obs])
    np.testing.assert_array_equal(b.x_future.numpy(), data["true"][rows, 60:])
    np.testing.assert_array_equal(b.clockwise.numpy(), data["clockwise"][rows])
    with pytest.raises(KeyError, match=r"n=7; generated n values: \[10, 25, 60\]"):
        make_batch(data, 7)


@pytest.mark.parametrize(("change", "match"), [
    ({"n_obs": [10, 61]}, r"n_obs must lie in \[1, n_window=60\]"),
    ({"n_obs": [10, 10]}, "distinct"),
    ({"n_obs": []}, "non-empty"),
    ({"noise_std": -0.1}, r"noise_std: must be >= 0"),
    ({"n_total": 100}, "exceeds n_total=100"),
    ({"test_fraction": 1.0}, r"test_fraction: must be < 1"),
    ({"test_fraction": 0.01}, "empty train or test split"),
    ({"t_stop": "six pi"}, r"t_stop: expected a number"),
    ({"n_spiral": 10}, r"unknown key\(s\) 'n_spiral'"),
])
def test_config_rejects_bad_values(change: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse(SpiralConfig, {**SMALL, **change})


def test_defaults_are_the_papers() -> None:
    cfg = parse(SpiralConfig, {})
    assert (cfg.n_spirals, cfg.n_window, cfg.n_future, cfg.n_obs, cfg.noise_std) == (
        1000, 100, 100, (30, 50, 100), 0.1)
