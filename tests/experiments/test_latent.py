"""Latent ODE vs RNN (paper sec. 5.1, Table 2, Figs. 8-9) on a small spiral set: train,
evaluate the saved model and draw its figures; training lowers the loss, same seed gives
the same metrics, the adjoint is counted in NFE-B, the budget axis (snapshots at equal
fractions, the last one scoring as the final model), the stages' CLI and MLflow runs, and
config errors."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from neuralode_repro.artifacts import load_model
from neuralode_repro.config import ConfigError, parse
from neuralode_repro.data.spirals import SpiralConfig, generate_spirals
from neuralode_repro.experiments.latent import (
    LatentTrainConfig,
    check_model_data,
    evaluate_budget,
    evaluate_saved,
    model_from_config,
    train,
)
from neuralode_repro.figures.config import LatentFigures
from neuralode_repro.figures.latent import draw_run, rmse_budget
from neuralode_repro.io import read_csv, save_arrays
from neuralode_repro.snapshots import read_snapshots
from neuralode_repro.tracking import Tracker

ROOT = Path(__file__).resolve().parents[2]
TINY: dict[str, Any] = {
    "iterations": 3, "batch_size": 4,
    "models": {"latent_ode": {"model": "latent_ode", "solver": {"adjoint": False}},
               "latent_adjoint": {"model": "latent_ode", "solver": {"adjoint": True}},
               "rnn": {"model": "rnn"}},
}


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    cfg = parse(SpiralConfig, {"n_spirals": 16, "n_obs": [30], "test_fraction": 0.25})
    return generate_spirals(cfg, seed=0)  # 12 train, 4 test spirals


def _offline_tracker() -> Tracker:
    tracker = Tracker("test", "test", {})
    tracker.enabled = False
    return tracker


FIGURES = LatentFigures(points=20, projection_spirals=4, interpolation_steps=3)
CPU = torch.device("cpu")


def _paths(out: Path, variant: str) -> dict[str, Path]:
    return {"weights": out / "models" / f"{variant}_n30.pt",
            "log": out / "m" / f"{variant}_n30_log.csv",
            "summary": out / "m" / f"{variant}_n30_train.json",
            "snapshots": out / "models" / f"{variant}_n30_snapshots.pt"}


def _run(variant: str, data: dict[str, np.ndarray], out: Path, **overrides: Any
         ) -> dict[str, Any]:
    """What the three stages do: train, evaluate the saved model, draw its figures."""
    cfg = parse(LatentTrainConfig, {**TINY, **overrides})
    paths = _paths(out, variant)
    _, facts = train(variant, 30, cfg, data, seed=0, data_path="data/spirals.npz", device=CPU,
                     tracker=_offline_tracker(), **paths)
    model, _, _ = load_model(paths["weights"], model_from_config)
    draw_run(model, data, 30, FIGURES, out / "f", variant)
    return {**facts, **evaluate_saved(model, data, 30, CPU)}


@pytest.mark.parametrize("variant", ["latent_ode", "latent_adjoint", "rnn"])
def test_run_writes_finite_metrics_curve_and_figures(variant, data, tmp_path):
    metrics = _run(variant, data, tmp_path)
    for key in ("pred_rmse", "recon_rmse", "recon_rmse_noisy", "final_loss", "train_time_s",
                "nfe_forward_mean", "nfe_backward_mean"):
        assert math.isfinite(metrics[key]), key
    assert metrics["iterations"] == 3 and metrics["batch_size"] == 4
    assert metrics["noise_std"] == pytest.approx(0.1) and metrics["n_test"] == 4
    on_disk = json.loads((tmp_path / "m" / f"{variant}_n30_train.json").read_text())
    assert on_disk == {k: metrics[k] for k in on_disk}
    rows = (tmp_path / "m" / f"{variant}_n30_log.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss,") and len(rows) == 1 + 3
    assert "nfe_forward" in rows[0] and "nfe_backward" in rows[0]
    figs = {p.name for p in (tmp_path / "f").iterdir()}
    if variant == "rnn":
        assert figs == {"reconstructions.png"}
        assert metrics["nfe_forward_mean"] == 0 and "final_elbo" not in metrics
    else:
        assert figs == {"reconstructions.png", "latent_projection.png", "interpolation.png"}
        assert metrics["nfe_forward_mean"] > 0 and math.isfinite(metrics["final_elbo"])
        # the adjoint's backward solves are counted; direct backprop has none
        assert (metrics["nfe_backward_mean"] > 0) == (variant == "latent_adjoint")
    assert all((tmp_path / "f" / f).stat().st_size > 5000 for f in figs)


@pytest.mark.parametrize("variant", ["latent_ode", "rnn"])
def test_training_lowers_the_loss(variant, data, tmp_path):
    _run(variant, data, tmp_path, iterations=40, batch_size=12)
    curve = np.genfromtxt(tmp_path / "m" / f"{variant}_n30_log.csv", delimiter=",",
                          names=True)
    assert curve["loss"][-5:].mean() < 0.5 * curve["loss"][0]


def test_same_seed_gives_same_metrics(data, tmp_path):
    a, b = (_run("rnn", data, tmp_path / k) for k in "ab")
    assert {k: v for k, v in a.items() if not k.endswith("_s")} == \
        {k: v for k, v in b.items() if not k.endswith("_s")}
    assert (tmp_path / "a/m/rnn_n30_log.csv").read_bytes() == \
        (tmp_path / "b/m/rnn_n30_log.csv").read_bytes()


@pytest.mark.parametrize("variant", ["latent_ode", "rnn"])
def test_saved_model_reproduces_its_evaluation_exactly(variant, data, tmp_path):
    """The model file holds every weight: evaluating the reloaded model gives exactly
    the scores of the model training returned."""
    cfg = parse(LatentTrainConfig, TINY)
    paths = _paths(tmp_path, variant)
    trained, _ = train(variant, 30, cfg, data, seed=0, data_path="data/spirals.npz", device=CPU,
                       tracker=_offline_tracker(), **paths)
    direct = evaluate_saved(trained, data, 30, CPU)
    loaded, config, meta = load_model(paths["weights"], model_from_config)
    again = evaluate_saved(loaded, data, 30, CPU)
    assert {k: v for k, v in again.items() if k != "eval_time_s"} == \
        {k: v for k, v in direct.items() if k != "eval_time_s"}
    assert config["variant"] == variant and meta == {"mlflow_run_id": "", "identity": {
        "experiment": "latent", "model": variant, "n_obs": 30, "seed": 0,
        "data": "data/spirals.npz"}}


@pytest.mark.parametrize("variant", ["latent_ode", "rnn"])
def test_budget_axis_ends_at_the_final_models_scores(variant, data, tmp_path):
    """evaluate_latent's budget axis: the last snapshot is the final model, so its row
    has exactly evaluate_saved's RMSEs; scoring the snapshots leaves the model's final
    weights in place."""
    cfg = parse(LatentTrainConfig, {**TINY, "iterations": 6, "budget_points": 3})
    paths = _paths(tmp_path, variant)
    train(variant, 30, cfg, data, seed=0, data_path="data/spirals.npz", device=CPU,
          tracker=_offline_tracker(), **paths)
    model, _, _ = load_model(paths["weights"], model_from_config)
    final = evaluate_saved(model, data, 30, CPU)
    rows = evaluate_budget(model, data, 30, read_snapshots(paths["snapshots"]), CPU)
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert list(rows[0]) == ["step", "train_time_s", "pred_rmse", "recon_rmse"]
    assert rows[-1]["pred_rmse"] == final["pred_rmse"]
    assert rows[-1]["recon_rmse"] == final["recon_rmse"]
    assert rows[0]["pred_rmse"] != final["pred_rmse"]  # an earlier model, not the final one
    again = evaluate_saved(model, data, 30, CPU)
    assert (again["pred_rmse"], again["recon_rmse"]) == (final["pred_rmse"], final["recon_rmse"])


@pytest.mark.parametrize(("iterations", "points", "steps"), [
    (10, 5, [2, 4, 6, 8, 10]), (9, 3, [3, 6, 9]), (3, 5, [1, 2, 3]), (4, 1, [4]), (4, 0, [])])
def test_snapshots_at_equal_fractions_of_the_run(iterations, points, steps, data, tmp_path):
    """budget_points snapshots at equal fractions of the iterations (distinct steps, the
    last the final model), each with the training time so far; 0: an empty axis."""
    cfg = parse(LatentTrainConfig, {**TINY, "iterations": iterations, "budget_points": points})
    paths = _paths(tmp_path, "rnn")
    _, facts = train("rnn", 30, cfg, data, seed=0, data_path="data/spirals.npz", device=CPU,
                     tracker=_offline_tracker(), **paths)
    snaps = read_snapshots(paths["snapshots"])
    assert snaps["steps"] == steps and len(snaps["states"]) == len(steps)
    assert snaps["epochs"] == [s / iterations for s in steps]
    assert len(snaps["times_s"]) == len(steps) and snaps["times_s"] == sorted(snaps["times_s"])
    assert all(0 < t <= facts["train_time_s"] for t in snaps["times_s"])
    model, _, _ = load_model(paths["weights"], model_from_config)
    assert len(evaluate_budget(model, data, 30, snaps, CPU)) == len(steps)


def test_rmse_budget_figure_from_rows(tmp_path):
    """The RMSE-vs-iterations figure from synthetic budget rows: two n_obs panels, two
    seeds each (a shaded range), one variant without a paper value, one without points."""
    def curve(scale: float) -> list[dict[str, float]]:
        return [{"step": s, "train_time_s": 0.1 * s, "pred_rmse": scale / s,
                 "recon_rmse": 0.5 * scale / s} for s in (10, 20, 30)]
    curves = {30: {"latent_ode": [curve(1.0), curve(1.2)], "rnn": [curve(2.0), curve(2.5)],
                   "latent_adjoint": [curve(1.1)]},
              50: {"latent_ode": [curve(0.9), curve(1.0)], "rnn": [[], []]}}
    path = tmp_path / "f" / "rmse_budget.png"
    rmse_budget(curves, {"latent_ode": {30: 0.1642, 50: 0.1502}, "rnn": {30: 0.3937}}, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


@pytest.mark.parametrize(("config", "match"), [
    ({"n_obs": 50, "noise_std": 0.1}, r"n_obs=50 was not generated: data/spirals.npz has"),
    ({"n_obs": 30, "noise_std": 0.2}, r"trained on spirals with noise_std 0.2, .* has 0.1; "
                                      r"retrain"),
])
def test_saved_model_must_fit_the_data(config, match, data):
    """evaluate_latent and figures_latent refuse a model file the spirals do not fit."""
    with pytest.raises(ValueError, match=match):
        check_model_data(config, data)


def test_batch_size_above_train_set_means_full_batch(data, tmp_path):
    assert _run("rnn", data, tmp_path, iterations=1, batch_size=1000)["batch_size"] == 12


@pytest.mark.parametrize(("variant", "n_obs", "match"), [
    ("gru", 30, r"unknown model 'gru': train_latent.models has latent_adjoint, latent_ode, rnn"),
    ("rnn", 50, r"n_obs=50 was not generated: data/spirals.npz has n_obs \[30\]"),
])
def test_unknown_variant_or_n_obs(variant, n_obs, match, data, tmp_path):
    cfg = parse(LatentTrainConfig, TINY)
    with pytest.raises(ValueError, match=match):
        train(variant, n_obs, cfg, data, seed=0, data_path="data/spirals.npz", device=CPU,
              tracker=_offline_tracker(), **_paths(tmp_path, variant))
    assert not any(tmp_path.iterdir())  # nothing written before the error


@pytest.mark.parametrize(("patch", "match"), [
    ({"epochs": 3}, r"unknown key\(s\) 'epochs'"),
    ({"batch_size": 0}, r"batch_size: must be >= 1, got 0"),
    ({"optim": {"schedule": "multistep", "milestones": [2]}}, r"'multistep' counts epochs"),
    ({"models": {"x": {"model": "lstm"}}}, r"models\.x\.model: expected one of 'latent_ode'"),
    ({"eval": {"every": 2}}, r"unknown key\(s\) 'eval'"),  # evaluation is a stage of its own
    ({"seeds": [0, 0]}, r"seeds: expected a non-empty list of distinct integers >= 0, "
                        r"got \[0, 0\]"),
    ({"seeds": []}, r"seeds: expected a non-empty list of distinct integers"),
    ({"seeds": [-1]}, r"seeds\[0\]: must be >= 0, got -1"),
    ({"budget_points": -1}, r"budget_points: must be >= 0, got -1"),
])
def test_config_errors(patch, match):
    with pytest.raises(ConfigError, match=match):
        parse(LatentTrainConfig, {**TINY, **patch}, "train_latent")


def test_stage_cli_writes_outputs_and_mlflow_runs(data, tmp_path):
    """train_latent, evaluate_latent and figures_latent as dvc.yaml runs them: the
    model file, the metrics, the figures, the MLflow model and the evaluation run's link
    to its training run."""
    import mlflow
    import mlflow.pytorch

    from tests._stages import stage_argv

    save_arrays(tmp_path / "data" / "spirals.npz", data)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({  # one model, one n_obs: what figures_latent draws
        "common": {"profile": "test", "device": "cpu"},
        "generate_data": {"spirals": {"n_obs": [30]}},
        "train_latent": {**TINY, "models": {"rnn": TINY["models"]["rnn"]}},
        "figures": {"latent": dataclasses.asdict(FIGURES)}}))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}

    def stage(name: str, *args: str) -> subprocess.CompletedProcess:
        args = args or tuple(stage_argv(name, model="rnn", n_obs=30, seed=0))
        return subprocess.run([sys.executable, str(ROOT / "stages/run.py"), name, *args,
                               "--params", str(params)],
                              cwd=tmp_path, env=env, capture_output=True, text=True)

    bad = stage("train_latent", *stage_argv("train_latent", model="rnn", n_obs=30, seed=0),
                "--model", "lstm")
    assert bad.returncode == 1 and "error: unknown model 'lstm'" in bad.stderr
    unknown = stage("train_latent", *stage_argv("train_latent", model="rnn", n_obs=30, seed=7))
    assert unknown.returncode == 1 and \
        "error: --seed 7 is not in train_latent.seeds [0]" in unknown.stderr
    figures = tuple(stage_argv("figures_latent"))
    early = stage("figures_latent", *figures)  # before training: names the missing file
    assert early.returncode == 1 and "rnn_n30-s0.pt not found; run `dvc repro`" in early.stderr
    for name, args in (("train_latent", ()), ("evaluate_latent", ()),
                       ("figures_latent", figures)):
        ok = stage(name, *args)
        assert ok.returncode == 0, ok.stderr[-2000:]
    assert math.isfinite(json.loads((tmp_path / "metrics/latent/rnn_n30-s0.json").read_text())
                         ["pred_rmse"])
    budget = read_csv(tmp_path / "metrics/latent/rnn_n30-s0_budget.csv")
    assert [r["step"] for r in budget] == [1, 2, 3] and list(budget[0]) == [
        "step", "train_time_s", "pred_rmse", "recon_rmse"]  # budget_points 5 of 3 steps
    assert sorted(p.name for p in (tmp_path / "reports/figures/latent").rglob("*.png")) == \
        ["reconstructions.png", "rmse_budget.png"]  # the RNN has no latent path to project
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = {r["tags.mlflow.runName"]: r for _, r in mlflow.search_runs(
        experiment_names=["neural-ode-reproduction"]).iterrows()}
    assert set(runs) == {"train_latent@rnn-30-0", "evaluate_latent@rnn-30-0", "figures_latent"}
    assert runs["figures_latent"]["status"] == "FINISHED"
    train_run, eval_run = runs["train_latent@rnn-30-0"], runs["evaluate_latent@rnn-30-0"]
    assert train_run["status"] == eval_run["status"] == "FINISHED"
    assert train_run["params.model.model"] == "rnn" and train_run["params.n_obs"] == "30"
    assert train_run["params.seed"] == "0" and train_run["tags.seed"] == "0"
    assert eval_run["tags.neuralode.train_run_id"] == train_run["run_id"]
    assert math.isfinite(eval_run["metrics.pred_rmse"])
    client = mlflow.MlflowClient()
    assert [m.step for m in client.get_metric_history(train_run["run_id"], "loss")] == [1, 2, 3]
    model = mlflow.pytorch.load_model(f"runs:/{train_run['run_id']}/model")
    again = evaluate_saved(model, data, 30, CPU)
    assert again["pred_rmse"] == eval_run["metrics.pred_rmse"]
