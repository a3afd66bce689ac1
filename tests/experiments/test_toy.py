"""Toy dynamics fits: the linear fit at its default params really recovers A (a check
of learning), train -> evaluate -> figures from the saved files, and input checks."""

from pathlib import Path

import pytest

from neuralode_repro.artifacts import load_model
from neuralode_repro.config import CommonConfig, load_params, load_section, parse
from neuralode_repro.data.toy import ToyDataConfig, generate_toy
from neuralode_repro.experiments.budget import toy_frames
from neuralode_repro.experiments.toy import ToyTrainConfig, evaluate, model_from_config, train
from neuralode_repro.figures.toy import draw_all
from neuralode_repro.io import load_arrays
from neuralode_repro.tracking import Tracker

ROOT = Path(__file__).resolve().parents[2]


def _offline_tracker() -> Tracker:
    tracker = Tracker("test", "test", {})
    tracker.enabled = False
    return tracker


def _data(**over):
    params = load_params(ROOT / "params.yaml")
    data_cfg = parse(ToyDataConfig, {**params["generate_data"]["toy"], **over})
    # generate_data seeds system i (sorted by name) with seed + i; linear is first
    return generate_toy(data_cfg.systems["linear"], data_cfg, seed=0)


def _train(cfg, data, out: Path):
    paths = {"weights": out / "linear.pt", "log": out / "log.csv",
             "summary": out / "train.json", "snapshots": out / "snaps.npz"}
    model, facts = train("linear", cfg, data, seed=0, data_path="data/toy/linear.npz",
                         tracker=_offline_tracker(), **paths)
    return model, facts, paths


@pytest.mark.slow  # ~3 min on 2 cores: 3 restarts x 1000 steps (make repro runs it too)
def test_linear_recovers_matrix_at_default_params(tmp_path):
    params = load_params(ROOT / "params.yaml")
    common = load_section(CommonConfig, "common", params=params)
    cfg = load_section(ToyTrainConfig, "train_toy.systems.linear", params=params)
    assert common.seed == 0
    model, _, _ = _train(cfg, _data(), tmp_path)
    metrics, _ = evaluate(model, cfg, _data())
    assert metrics["frobenius_error"] < 0.1
    assert metrics["traj_mse"] < 1e-3


def test_train_evaluate_figures_from_saved_files(tmp_path):
    """The model file reloads into the same field: evaluating it gives exactly the
    metrics of the in-memory model; the figures are drawn from the files alone."""
    cfg = parse(ToyTrainConfig, {"model": "linear", "steps": 6, "gif_frames": 2,
                                 "restarts": 2})
    data = _data(n_points=40, extrapolate_points=8)
    model, facts, paths = _train(cfg, data, tmp_path)
    assert facts["selected_restart"] in (0, 1) and len(facts["restart_obs_mse"]) == 2
    assert set(facts) >= {"final_loss", "nfe_forward_mean", "nfe_backward_mean"}
    direct, traj = evaluate(model, cfg, data)
    loaded, config, meta = load_model(paths["weights"], model_from_config)
    again, traj2 = evaluate(loaded, parse(ToyTrainConfig, config), data)
    assert again == direct and (traj2 == traj).all()
    assert meta == {"mlflow_run_id": "", "identity": {
        "experiment": "toy", "model": "linear", "seed": 0, "data": "data/toy/linear.npz"}}
    assert facts["model"] == "linear" and facts["seed"] == 0  # the summary's part of it
    assert (tmp_path / "log.csv").read_text().splitlines()[0] == \
        "step,loss,nfe_forward,nfe_backward,lr"
    # the budget axis from the GIF's frames: steps 1, 3, 6; its last point is the
    # final model's trajectory MSE
    rows = toy_frames(load_arrays(paths["snapshots"]), data)
    assert [r["step"] for r in rows] == [1, 3, 6]
    assert rows[-1]["traj_mse"] == pytest.approx(direct["traj_mse"], rel=1e-6)
    draw_all(data, loaded, traj, load_arrays(paths["snapshots"]), tmp_path / "figs")
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "observations.png", "training.gif", "trajectory.png", "vector_field.png"]


def test_max_span_must_fit_in_data(tmp_path):
    data = _data(t_max=4.0)
    cfg = parse(ToyTrainConfig, {"model": "linear", "steps": 1})
    with pytest.raises(ValueError, match=r"max_span=5\.0 must be below the observed span"):
        _train(cfg, data, tmp_path)
