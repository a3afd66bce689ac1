"""The linear toy fit at its default params really recovers A (a check of learning)."""

from pathlib import Path

import pytest

from neuralode.config import CommonConfig, load_params, load_section
from neuralode.data.toy import ToyDataConfig, generate_toy
from neuralode.experiments.toy import ToyTrainConfig, run
from neuralode.tracking import Tracker

ROOT = Path(__file__).resolve().parents[2]


def _offline_tracker() -> Tracker:
    tracker = Tracker("test", "test", {})
    tracker.enabled = False
    return tracker


@pytest.mark.slow  # ~3 min on 2 cores: 3 restarts x 1000 steps (make repro runs it too)
def test_linear_recovers_matrix_at_default_params(tmp_path):
    params = load_params(ROOT / "params.yaml")
    common = load_section(CommonConfig, "common", params=params)
    data_cfg = load_section(ToyDataConfig, "generate_data.toy", params=params)
    cfg = load_section(ToyTrainConfig, "train_toy.linear", params=params)
    # generate_data seeds system i (sorted by name) with seed + i; linear is first
    data = generate_toy(data_cfg.systems["linear"], data_cfg, seed=common.seed)
    metrics = run("linear", cfg, data, seed=common.seed, tracker=_offline_tracker(),
                  metrics_dir=tmp_path / "m", figures_dir=tmp_path / "f")
    assert metrics["frobenius_error"] < 0.1
    assert metrics["traj_mse"] < 1e-3
    assert (tmp_path / "f" / "training.gif").exists()


def test_max_span_must_fit_in_data(tmp_path):
    from neuralode.config import parse

    params = load_params(ROOT / "params.yaml")
    data_cfg = parse(ToyDataConfig, {**params["generate_data"]["toy"], "t_max": 4.0})
    data = generate_toy(data_cfg.systems["linear"], data_cfg, seed=0)
    cfg = parse(ToyTrainConfig, {"model": "linear", "steps": 1})
    with pytest.raises(ValueError, match=r"max_span=5\.0 must be below the observed span"):
        run("linear", cfg, data, seed=0, tracker=_offline_tracker(), metrics_dir=tmp_path,
            figures_dir=tmp_path)
