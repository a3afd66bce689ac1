"""The CNF vs planar NF stage (paper sec. 4.1, Figs. 4-5): a few iterations of every
kind of run in tmp_path, its outputs, its determinism and its config errors."""

import copy
import json
import math
from pathlib import Path

import pytest

from neuralode.config import ConfigError, load_params, parse
from neuralode.experiments.cnf import (
    CNFTrainConfig,
    check_selection,
    run,
    run_name,
    summarize_capacity,
)
from neuralode.profile import merge

ROOT = Path(__file__).resolve().parents[2]
LOOSE = {"rtol": 1e-3, "atol": 1e-3, "adjoint": False}
SMALL_EVAL = {"size": 64, "samples": 64, "grid": 8, "fractions": [0.0, 0.5, 1.0]}
BASE = {
    "ml": {
        "targets": {"two_moons": {"name": "two_moons", "noise": 0.05},
                    "two_circles": {"name": "two_circles", "noise": 0.06, "factor": 0.5}},
        "cnf": {"model": {"kind": "cnf", "width": 4, "hidden": 4, "t1": 0.5,
                          "trace": "analytic", "solver": LOOSE},
                "steps": 3, "batch_size": 32, "optim": {"lr": 1e-2}},
        "nf": {"model": {"kind": "nf", "width": 4, "direction": "normalizing"},
               "steps": 3, "batch_size": 32, "optim": {"lr": 1e-2}},
        "eval": SMALL_EVAL},
    "capacity": {
        "target": {"name": "u1_ring"}, "widths": [1, 2],
        "cnf": {"model": {"kind": "cnf", "hidden": 4, "trace": "analytic", "solver": LOOSE},
                "steps": 3, "batch_size": 32},
        "nf": {"model": {"kind": "nf"}, "steps": 3, "batch_size": 32},
        "eval": {**SMALL_EVAL, "lim": 4.0}, "log_z_grid": 100},
}


def _cfg(overlay: dict | None = None) -> CNFTrainConfig:
    data = copy.deepcopy(BASE)
    merge(data, overlay or {})
    return parse(CNFTrainConfig, data, "train_cnf")


class Recorder:
    """A stand-in for the MLflow tracker that keeps what the run logs."""

    def __init__(self):
        self.steps: list[tuple[int | None, dict]] = []
        self.models = 0

    def log_metrics(self, metrics, step=None):
        self.steps.append((step, dict(metrics)))

    def log_state_dict(self, model, name="model.pt"):
        self.models += 1


def _run(tmp_path, task, kind, cfg=None, **sel):
    tracker = Recorder()
    metrics = run(task, kind, cfg or _cfg(), seed=0, tracker=tracker,
                  metrics_dir=tmp_path / "m", figures_dir=tmp_path / "f", **sel)
    return metrics, tracker


@pytest.mark.parametrize("kind", ["cnf", "nf"])
def test_ml_run_writes_finite_metrics_curves_and_figures(tmp_path, kind):
    metrics, tracker = _run(tmp_path, "ml", kind, target="two_moons")
    for key in ("test_nll", "test_nll_se", "train_loss_final", "wall_time_s"):
        assert math.isfinite(metrics[key]), key
    assert metrics["test_nll_se"] > 0
    assert (metrics["nfe_forward_mean"] > 0) == (kind == "cnf")  # an NF has no solver
    assert json.loads((tmp_path / "m" / f"two_moons_{kind}.json").read_text()) == metrics
    rows = (tmp_path / "m" / f"two_moons_{kind}_loss.csv").read_text().splitlines()
    assert rows[0] == "step,loss,nfe_forward,nfe_backward" and len(rows) == 4
    for fig in ("transformation.png", "training.png"):
        assert (tmp_path / "f" / fig).stat().st_size > 1000
    # every iteration reaches the tracker with its step, loss and NFE; then the model
    logged = [(s, m) for s, m in tracker.steps if s is not None]
    assert [s for s, _ in logged] == [1, 2, 3]
    assert all({"loss", "nfe_forward", "nfe_backward"} <= set(m) for _, m in logged)
    assert tracker.models == 1


def test_cnf_ml_reports_the_training_tolerance_bias(tmp_path):
    metrics, _ = _run(tmp_path, "ml", "cnf", target="two_circles")
    # the loose training solver and the tight evaluation solver see the same model
    assert abs(metrics["test_nll_train_solver"] - metrics["test_nll"]) < 0.05


def test_same_seed_same_metrics(tmp_path):
    a, _ = _run(tmp_path / "a", "ml", "nf", target="two_circles")
    b, _ = _run(tmp_path / "b", "ml", "nf", target="two_circles")
    # wall-clock keys end in _s by the project's convention
    assert {k: v for k, v in a.items() if not k.endswith("_s")} == \
        {k: v for k, v in b.items() if not k.endswith("_s")}
    csv = "m/two_circles_nf_loss.csv"
    assert (tmp_path / "a" / csv).read_bytes() == (tmp_path / "b" / csv).read_bytes()


def test_capacity_runs_and_summary(tmp_path):
    cfg = _cfg()
    for kind in ("cnf", "nf"):
        for w in cfg.capacity.widths:
            metrics, tracker = _run(tmp_path, "capacity", kind, cfg, width=w)
            assert metrics["width"] == w
            # KL(q || p) >= 0 up to Monte Carlo error; log Z of U1 on [-4, 4]^2 is ~1.88
            assert metrics["final_kl"] > -5 * metrics["final_kl_se"]
            assert metrics["log_z"] == pytest.approx(1.878, abs=0.01)
            assert "kl_est" in tracker.steps[0][1]
            assert (tmp_path / "m" / f"{kind}_{w}_density.npz").exists()
            header = (tmp_path / "m" / f"{kind}_{w}_loss.csv").read_text().splitlines()[0]
            assert header.endswith(",kl")
    summary = summarize_capacity(cfg.capacity, tmp_path / "m", tmp_path / "sum",
                                 tmp_path / "figs")
    assert set(summary["kl_cnf"]) == {"1", "2"} and 0 <= summary["cnf_lower_count"] <= 2
    rows = (tmp_path / "sum" / "capacity.csv").read_text().splitlines()
    assert rows[0] == "width,cnf,nf" and len(rows) == 3
    for fig in ("loss_vs_capacity.png", "densities.png"):
        assert (tmp_path / "figs" / fig).stat().st_size > 1000


def test_summary_names_the_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"run the stage train_cnf_capacity@cnf-1"):
        summarize_capacity(_cfg().capacity, tmp_path, tmp_path, tmp_path)


def test_run_names():
    assert run_name("ml", "cnf", target="two_moons") == "two_moons_cnf"
    assert run_name("capacity", "nf", width=8) == "nf_8"


@pytest.mark.parametrize(("overlay", "match"), [
    ({"capacity": {"nf": {"model": {"kind": "cnf"}}}},
     r"capacity\.nf\.model\.kind must be 'nf'"),
    ({"capacity": {"widths": [8, 2]}}, "widths must be increasing positive integers"),
    ({"capacity": {"widths": []}}, "widths must be increasing positive integers"),
    ({"capacity": {"nf": {"model": {"width": 3}}}}, "width is set per run from widths"),
    ({"ml": {"eval": {"fractions": [0.5, 0.2]}}}, "fractions must be strictly increasing"),
    ({"ml": {"cnf": {"steps": 0}}}, r"train_cnf\.ml\.cnf\.steps: must be >= 1"),
    ({"ml": {"targets": {"two_moons": {"name": "spiral"}}}}, "expected one of 'two_moons'"),
    ({"capacity": {"target": {"name": "u9"}}}, "expected one of 'u1_ring'"),
    ({"ml": {"iterations": 5}}, r"unknown key\(s\) 'iterations'"),
])
def test_config_errors(overlay, match):
    with pytest.raises(ConfigError, match=match):
        _cfg(overlay)


def test_selection_must_be_in_the_matrix(tmp_path):
    cfg = _cfg()
    with pytest.raises(ConfigError, match="no target 'spirals'; have: two_moons, two_circles"):
        check_selection(cfg, "ml", target="spirals", width=None)
    with pytest.raises(ConfigError, match=r"16 is not one of \[1, 2\]"):
        run("capacity", "cnf", cfg, seed=0, tracker=Recorder(), metrics_dir=tmp_path,
            figures_dir=tmp_path, width=16)
    assert not any(tmp_path.iterdir())  # nothing written before the error


def test_params_yaml_section_parses():
    params = load_params(ROOT / "params.yaml")
    if "train_cnf" not in params:
        pytest.skip("train_cnf not yet in params.yaml")
    cfg = parse(CNFTrainConfig, params["train_cnf"], "train_cnf")
    assert set(cfg.ml.targets) and cfg.capacity.widths
