"""Stage train_latent (paper sec. 5.1, Table 2, Figs. 8-9) on a small spiral set: outputs
written and finite, training lowers the loss, same seed gives the same metrics, the
adjoint is counted in NFE-B, the stage's CLI and MLflow run, and config errors."""

from __future__ import annotations

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

from neuralode.config import ConfigError, parse
from neuralode.data.spirals import SpiralConfig, generate_spirals
from neuralode.experiments.latent import LatentTrainConfig, run
from neuralode.io import save_arrays
from neuralode.tracking import Tracker

ROOT = Path(__file__).resolve().parents[2]
TINY: dict[str, Any] = {
    "iterations": 3, "batch_size": 4,
    "eval": {"every": 2, "figure_points": 20, "projection_spirals": 4, "interpolation_steps": 3},
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


def _run(variant: str, data: dict[str, np.ndarray], out: Path, **overrides: Any
         ) -> dict[str, Any]:
    cfg = parse(LatentTrainConfig, {**TINY, **overrides})
    return run(variant, 30, cfg, data, seed=0, device=torch.device("cpu"),
               tracker=_offline_tracker(), metrics_dir=out / "m", figures_dir=out / "f")


@pytest.mark.parametrize("variant", ["latent_ode", "latent_adjoint", "rnn"])
def test_run_writes_finite_metrics_curve_and_figures(variant, data, tmp_path):
    metrics = _run(variant, data, tmp_path)
    for key in ("pred_rmse", "recon_rmse", "recon_rmse_noisy", "final_loss", "wall_time_s",
                "nfe_forward_mean", "nfe_backward_mean"):
        assert math.isfinite(metrics[key]), key
    assert metrics["iterations"] == 3 and metrics["batch_size"] == 4
    assert metrics["noise_std"] == pytest.approx(0.1) and metrics["n_test"] == 4
    on_disk = json.loads((tmp_path / "m" / f"{variant}_n30.json").read_text())
    assert on_disk.pop("runtime") == metrics["runtime"]  # the platform record
    assert on_disk == pytest.approx({k: v for k, v in metrics.items() if k != "runtime"})
    rows = (tmp_path / "m" / f"{variant}_n30_curve.csv").read_text().splitlines()
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
    curve = np.genfromtxt(tmp_path / "m" / f"{variant}_n30_curve.csv", delimiter=",",
                          names=True)
    assert curve["loss"][-5:].mean() < 0.5 * curve["loss"][0]


def test_same_seed_gives_same_metrics(data, tmp_path):
    a, b = (_run("rnn", data, tmp_path / k) for k in "ab")
    assert {k: v for k, v in a.items() if not k.endswith("_s")} == \
        {k: v for k, v in b.items() if not k.endswith("_s")}
    assert (tmp_path / "a/m/rnn_n30_curve.csv").read_bytes() == \
        (tmp_path / "b/m/rnn_n30_curve.csv").read_bytes()


def test_batch_size_above_train_set_means_full_batch(data, tmp_path):
    assert _run("rnn", data, tmp_path, iterations=1, batch_size=1000)["batch_size"] == 12


@pytest.mark.parametrize(("variant", "n_obs", "match"), [
    ("gru", 30, r"unknown model 'gru': train_latent.models has latent_adjoint, latent_ode, rnn"),
    ("rnn", 50, r"n_obs=50 was not generated: data/spirals.npz has n_obs \[30\]"),
])
def test_unknown_variant_or_n_obs(variant, n_obs, match, data, tmp_path):
    cfg = parse(LatentTrainConfig, TINY)
    with pytest.raises(ValueError, match=match):
        run(variant, n_obs, cfg, data, seed=0, device=torch.device("cpu"),
            tracker=_offline_tracker(), metrics_dir=tmp_path, figures_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written before the error


@pytest.mark.parametrize(("patch", "match"), [
    ({"epochs": 3}, r"unknown key\(s\) 'epochs'"),
    ({"batch_size": 0}, r"batch_size: must be >= 1, got 0"),
    ({"optim": {"schedule": "multistep", "milestones": [2]}}, r"'multistep' counts epochs"),
    ({"models": {"x": {"model": "lstm"}}}, r"models\.x\.model: expected one of 'latent_ode'"),
    ({"eval": {"every": 0}}, r"eval\.every: must be >= 1"),
])
def test_config_errors(patch, match):
    with pytest.raises(ConfigError, match=match):
        parse(LatentTrainConfig, {**TINY, **patch}, "train_latent")


def test_stage_cli_writes_outputs_and_mlflow_run(data, tmp_path):
    import mlflow

    save_arrays(tmp_path / "data" / "spirals.npz", data)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"common": {"profile": "test", "device": "cpu"},
                                      "train_latent": TINY}))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "DVC_STAGE": "train_latent@rnn-30"}
    args = [sys.executable, str(ROOT / "stages/train_latent.py"), "--params", str(params),
            "--data", str(tmp_path / "data"), "--metrics", str(tmp_path / "metrics"),
            "--figures", str(tmp_path / "figures"), "--n-obs", "30"]
    bad = subprocess.run(args + ["--model", "lstm"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "error: unknown model 'lstm'" in bad.stderr
    ok = subprocess.run(args + ["--model", "rnn"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert (tmp_path / "metrics/latent/rnn_n30.json").exists()
    assert (tmp_path / "figures/latent/rnn_n30/reconstructions.png").exists()
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["neural-ode-reproduction"])
    assert list(runs["tags.mlflow.runName"]) == ["train_latent@rnn-30"]
    run_ = runs.iloc[0]
    assert run_["status"] == "FINISHED" and run_["params.model.model"] == "rnn"
    assert run_["params.n_obs"] == "30" and math.isfinite(run_["metrics.pred_rmse"])
    client = mlflow.MlflowClient()
    assert [m.step for m in client.get_metric_history(run_["run_id"], "test_pred_rmse")] == [2, 3]
    assert {a.path for a in client.list_artifacts(run_["run_id"])} >= {
        "figures", "model", "rnn_n30.json", "rnn_n30_curve.csv"}
