"""The CNF vs planar NF experiment (paper sec. 4.1, Figs. 4-5): a few iterations of
every kind of run in tmp_path, then evaluation from the saved model file, the capacity
summary and every figure from the files alone; determinism and config errors."""

import copy
import dataclasses
import math
from pathlib import Path

import pytest

from neuralode_repro import runs
from neuralode_repro.artifacts import load_model
from neuralode_repro.config import ConfigError, load_params, parse
from neuralode_repro.experiments.cnf import (
    CNFEvalConfig,
    CNFTrainConfig,
    check_selection,
    model_from_config,
    train,
)
from neuralode_repro.experiments.cnf_eval import (
    evaluate_budget,
    evaluate_capacity,
    evaluate_ml,
    summarize_capacity,
)
from neuralode_repro.figures.cnf import draw_all
from neuralode_repro.figures.config import CNFFiguresConfig
from neuralode_repro.io import read_csv, read_json, write_csv, write_json
from neuralode_repro.profile import merge
from neuralode_repro.snapshots import read_snapshots, snapshot_steps
from neuralode_repro.tracking import Tracker

ROOT = Path(__file__).resolve().parents[2]
LOOSE = {"rtol": 1e-3, "atol": 1e-3, "adjoint": False}
BASE = {
    "ml": {
        "targets": {"two_moons": {"name": "two_moons", "noise": 0.05},
                    "two_circles": {"name": "two_circles", "noise": 0.06, "factor": 0.5}},
        "cnf": {"model": {"kind": "cnf", "width": 4, "hidden": 4, "t1": 0.5,
                          "trace": "analytic", "solver": LOOSE},
                "steps": 3, "batch_size": 32, "optim": {"lr": 1e-2}, "budget_points": 2},
        "nf": {"model": {"kind": "nf", "width": 4, "direction": "normalizing"},
               "steps": 3, "batch_size": 32, "optim": {"lr": 1e-2}, "budget_points": 2}},
    "capacity": {
        "target": {"name": "u1_ring"}, "widths": [1, 2],
        "cnf": {"model": {"kind": "cnf", "hidden": 4, "trace": "analytic", "solver": LOOSE},
                "steps": 3, "batch_size": 32},
        "nf": {"model": {"kind": "nf"}, "steps": 3, "batch_size": 32}},
    "seeds": [0, 1],
}
EVAL = parse(CNFEvalConfig, {"ml": {"size": 64, "budget_size": 32},
                              "capacity": {"size": 64, "log_z_grid": 100}})
SMALL_FIG = {"samples": 64, "grid": 8, "fractions": [0.0, 0.5, 1.0]}
FIGS = parse(CNFFiguresConfig, {"ml": SMALL_FIG, "capacity": {**SMALL_FIG, "lim": 4.0}})


def _cfg(overlay: dict | None = None) -> CNFTrainConfig:
    data = copy.deepcopy(BASE)
    merge(data, overlay or {})
    return parse(CNFTrainConfig, data, "train_cnf")


class Recorder(Tracker):
    """The offline tracker, keeping the per-step metrics the run logs."""

    def __init__(self):
        super().__init__("test", "test", {})
        self.enabled = False
        self.steps: list[tuple[int | None, dict]] = []

    def log_metrics(self, metrics, step=None):
        self.steps.append((step, dict(metrics)))


def _paths(out: Path, task: str, name: str) -> dict[str, Path]:
    paths = {"weights": out / "models" / task / f"{name}.pt",
             "log": out / "metrics" / task / f"{name}_log.csv",
             "summary": out / "metrics" / task / f"{name}_train.json"}
    if task == "ml":
        paths["snapshots"] = out / "models" / task / f"{name}_snapshots.pt"
    return paths


def _train(out: Path, task, kind, cfg=None, seed=0, **sel):
    tracker = Recorder()
    paths = _paths(out, task, runs.cnf(task, kind, seed, **sel).stem)
    model, facts = train(task, kind, cfg or _cfg(), seed=seed, tracker=tracker, **paths,
                         **sel)
    return model, facts, paths, tracker


def _evaluate(model, config, facts, task):
    if task == "ml":
        return evaluate_ml(model, config, EVAL.ml)
    return evaluate_capacity(model, config, EVAL.capacity, facts["final_loss"])


@pytest.mark.parametrize("kind", ["cnf", "nf"])
def test_ml_train_writes_model_log_and_summary(tmp_path, kind):
    model, facts, paths, tracker = _train(tmp_path, "ml", kind, target="two_moons")
    for key in ("final_loss", "train_time_s", "time_per_iteration_s"):
        assert math.isfinite(facts[key]), key
    assert (facts["nfe_forward_mean"] > 0) == (kind == "cnf")  # an NF has no solver
    assert read_json(paths["summary"]) == facts
    rows = paths["log"].read_text().splitlines()
    assert rows[0] == "step,loss,nll,nfe_forward,nfe_backward,lr" and len(rows) == 4
    # every iteration reaches the tracker with its step, loss and NFE
    assert [s for s, _ in tracker.steps] == [1, 2, 3]
    assert all({"loss", "nfe_forward", "nfe_backward"} <= set(m) for _, m in tracker.steps)
    metrics = evaluate_ml(model, load_model(paths["weights"], model_from_config)[1], EVAL.ml)
    for key in ("test_nll", "test_nll_se", "true_nll"):
        assert math.isfinite(metrics[key]), key
    assert metrics["test_nll_se"] > 0
    # Gibbs: no model's expected NLL is below the true density's (the floor)
    assert metrics["test_nll"] > metrics["true_nll"] - 5 * metrics["test_nll_se"]


@pytest.mark.parametrize(("task", "kind", "sel"), [
    ("ml", "cnf", {"target": "two_circles"}), ("ml", "nf", {"target": "two_moons"}),
    ("capacity", "cnf", {"width": 2}), ("capacity", "nf", {"width": 1})])
def test_saved_model_reproduces_the_evaluation_exactly(tmp_path, task, kind, sel):
    model, facts, paths, _ = _train(tmp_path, task, kind, **sel)
    _, config, meta = load_model(paths["weights"], model_from_config)
    assert meta == {"mlflow_run_id": "", "identity": {
        "experiment": "cnf", "model": kind, "task": task, **sel, "seed": 0}}
    assert config["task"] == task and config["seed"] == 0
    direct = _evaluate(model, config, facts, task)
    first = _evaluate(load_model(paths["weights"], model_from_config)[0], config, facts, task)
    again = _evaluate(load_model(paths["weights"], model_from_config)[0], config, facts, task)
    assert first == direct and again == direct
    if kind == "cnf":  # evaluation restores the model's own training solver
        assert model.cnf.solver == parse(CNFTrainConfig, BASE).ml.cnf.model.solver


def test_cnf_ml_reports_the_training_tolerance_bias(tmp_path):
    model, _, paths, _ = _train(tmp_path, "ml", "cnf", target="two_circles")
    metrics = evaluate_ml(model, load_model(paths["weights"], model_from_config)[1], EVAL.ml)
    # the loose training solver and the tight evaluation solver see the same model
    assert abs(metrics["test_nll_train_solver"] - metrics["test_nll"]) < 0.05


def test_same_seed_same_files(tmp_path):
    _, a, pa, _ = _train(tmp_path / "a", "ml", "nf", target="two_circles")
    _, b, pb, _ = _train(tmp_path / "b", "ml", "nf", target="two_circles")
    # wall-clock keys end in _s by the project's convention
    assert {k: v for k, v in a.items() if not k.endswith("_s")} == \
        {k: v for k, v in b.items() if not k.endswith("_s")}
    assert pa["log"].read_bytes() == pb["log"].read_bytes()


def test_pipeline_train_evaluate_summary_figures(tmp_path):
    """Every run trained and evaluated from its file, the capacity summary over seeds,
    then every figure drawn from the files alone (models, metrics, logs, capacity.csv)."""
    cfg = _cfg()
    every = [("ml", k, {"target": "two_moons"}) for k in ("cnf", "nf")] + \
        [("capacity", k, {"width": w}) for k in ("cnf", "nf") for w in cfg.capacity.widths]
    for task, kind, sel in every:
        for seed in cfg.seeds:
            _, facts, paths, _ = _train(tmp_path, task, kind, cfg, seed=seed, **sel)
            model, config, _ = load_model(paths["weights"], model_from_config)
            assert config["seed"] == facts["seed"] == seed
            metrics = _evaluate(model, config, facts, task)
            name = runs.cnf(task, kind, seed, **sel).stem
            write_json(paths["summary"].with_name(f"{name}.json"), {**facts, **metrics})
            if task == "ml":  # the budget axis: the snapshots' held-out NLL
                snaps = read_snapshots(paths["snapshots"])
                log = read_csv(paths["log"])
                rows = evaluate_budget(model, config, snaps, EVAL.ml, log, facts["batch_size"])
                assert [r["step"] for r in rows] == snapshot_steps(facts["steps"], 2)
                times = [r["train_time_s"] for r in rows]
                assert 0 < times[0] < times[-1] <= facts["train_time_s"]
                flops = [r["train_flops"] for r in rows]
                assert 0 < flops[0] < flops[-1]
                if kind == "nf":  # no solve: the same cost every step
                    assert flops[1] / flops[0] == pytest.approx(rows[1]["step"] / rows[0]["step"])
                test = evaluate_budget(model, config, {**snaps, "states": snaps["states"][-1:],
                                                       "steps": [1], "times_s": [0.0]},
                                       dataclasses.replace(EVAL.ml, budget_size=64), log,
                                       facts["batch_size"])
                assert test[0]["test_nll"] == pytest.approx(metrics["test_nll"], rel=1e-5)
                write_csv(paths["summary"].with_name(f"{name}_budget.csv"), rows)
            if task == "capacity":
                assert facts["width"] == sel["width"]
                # KL(q || p) >= 0 up to Monte Carlo error; log Z of U1 on [-4, 4]^2 ~1.88
                assert metrics["final_kl"] > -5 * metrics["final_kl_se"]
                assert metrics["log_z"] == pytest.approx(1.878, abs=0.01)
                assert metrics["train_kl_final"] == pytest.approx(facts["final_loss"] + 1.878,
                                                                  abs=0.01)
    m = tmp_path / "metrics"
    summary = summarize_capacity(cfg.capacity.widths, cfg.seeds, m / "capacity",
                                 m / "capacity.json", m / "capacity.csv")
    assert set(summary["kl_cnf"]) == {"1", "2"} and 0 <= summary["cnf_lower_count"] <= 2
    # results only: the target, widths and seeds are config (params.yaml)
    assert not {"target", "widths", "seeds"} & set(summary)
    assert read_json(m / "capacity.json") == summary
    # one value per seed, in the order of seeds: the report pairs CNF and NF by index
    kl = summary["kl_nf"]["2"]
    assert kl == [read_json(m / "capacity" / f"nf_2-s{s}.json")["final_kl"] for s in (0, 1)]
    assert kl[0] != kl[1]  # the seeds are different runs
    rows = read_csv(m / "capacity.csv")
    assert list(rows[0]) == ["width", "cnf", "cnf_lo", "cnf_hi", "nf", "nf_lo", "nf_hi"]
    assert len(rows) == 2
    assert rows[1]["nf"] == pytest.approx(sum(kl) / 2)
    assert (rows[1]["nf_lo"], rows[1]["nf_hi"]) == pytest.approx((min(kl), max(kl)))
    solvers = {"ml": EVAL.ml.solver, "capacity": EVAL.capacity.solver}
    files = draw_all(["two_moons"], cfg.capacity.widths, cfg.seeds, FIGS, solvers,
                     tmp_path / "models", m, tmp_path / "figs")
    expected = {f"ml_two_moons_{k}/{f}" for k in ("cnf", "nf")
                for f in ("transformation.png", "training.png")}
    expected |= {f"capacity_{k}_{w}/{f}" for k in ("cnf", "nf") for w in (1, 2)
                 for f in ("density.png", "training.png")}
    expected |= {"capacity/loss_vs_capacity.png", "capacity/densities.png", "ml_budget.png"}
    assert {str(f.relative_to(tmp_path / "figs")) for f in files} == expected
    for f in files:
        assert f.stat().st_size > 1000, f


def test_summary_names_the_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"run the stage evaluate_cnf_capacity@cnf-1-0"):
        summarize_capacity([1, 2], [0], tmp_path, tmp_path / "c.json", tmp_path / "c.csv")


def test_evaluation_refuses_a_model_of_the_other_task(tmp_path):
    model, facts, paths, _ = _train(tmp_path, "ml", "nf", target="two_moons")
    config = load_model(paths["weights"], model_from_config)[1]
    with pytest.raises(ValueError, match="of task 'ml', not 'capacity'"):
        evaluate_capacity(model, config, EVAL.capacity, facts["final_loss"])


def test_a_seed_outside_the_params_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"--seed 7 is not in train_cnf\.seeds \[0, 1\]"):
        _train(tmp_path, "ml", "nf", seed=7, target="two_moons")


@pytest.mark.parametrize(("overlay", "match"), [
    ({"capacity": {"nf": {"model": {"kind": "cnf"}}}},
     r"capacity\.nf\.model\.kind must be 'nf'"),
    ({"capacity": {"widths": [8, 2]}}, "widths must be increasing positive integers"),
    ({"capacity": {"widths": []}}, "widths must be increasing positive integers"),
    ({"capacity": {"nf": {"model": {"width": 3}}}}, "width is set per run from widths"),
    ({"ml": {"cnf": {"steps": 0}}}, r"train_cnf\.ml\.cnf\.steps: must be >= 1"),
    ({"seeds": [1, 1]}, r"seeds: expected a non-empty list of distinct integers"),
    ({"ml": {"targets": {"two_moons": {"name": "spiral"}}}}, "expected one of 'two_moons'"),
    ({"capacity": {"target": {"name": "u9"}}}, "expected one of 'u1_ring'"),
    ({"ml": {"iterations": 5}}, r"unknown key\(s\) 'iterations'"),
    ({"ml": {"eval": {"size": 8}}}, r"unknown key\(s\) 'eval'"),  # moved to evaluate_cnf
    ({"capacity": {"cnf": {"budget_points": 3}}},
     r"cnf\.budget_points: the budget axis is of the ml task only"),
    ({"ml": {"nf": {"model": {"gate": "dimension"}}}}, r"gate applies to kind 'cnf' only"),
])
def test_config_errors(overlay, match):
    with pytest.raises(ConfigError, match=match):
        _cfg(overlay)


@pytest.mark.parametrize(("section", "cls", "data", "match"), [
    ("evaluate_cnf", CNFEvalConfig, {"capacity": {"lim": float("inf")}},
     r"evaluate_cnf\.capacity\.lim: expected a finite number"),
    ("evaluate_cnf", CNFEvalConfig, {"ml": {"size": 1}}, r"evaluate_cnf\.ml\.size: must be >= 2"),
    ("evaluate_cnf", CNFEvalConfig, {"ml": {"size": 100, "budget_size": 200}},
     r"budget_size=200 must be <= size=100"),
    ("figures.cnf", CNFFiguresConfig, {"ml": {"fractions": [0.5, 0.2]}},
     "fractions must be strictly increasing"),
])
def test_eval_and_figure_config_errors(section, cls, data, match):
    with pytest.raises(ConfigError, match=match):
        parse(cls, data, section)


def test_selection_must_be_in_the_matrix(tmp_path):
    cfg = _cfg()
    with pytest.raises(ConfigError, match="no target 'spirals'; have: two_moons, two_circles"):
        check_selection(cfg, "ml", target="spirals", width=None)
    with pytest.raises(ConfigError, match=r"16 is not one of \[1, 2\]"):
        train("capacity", "cnf", cfg, seed=0, tracker=Recorder(), width=16,
              **_paths(tmp_path, "capacity", "cnf_16"))
    assert not any(tmp_path.iterdir())  # nothing written before the error


def test_params_yaml_sections_parse():
    params = load_params(ROOT / "params.yaml")
    if "evaluate_cnf" not in params:
        pytest.skip("evaluate_cnf not yet in params.yaml")
    cfg = parse(CNFTrainConfig, params["train_cnf"], "train_cnf")
    assert set(cfg.ml.targets) and cfg.capacity.widths
    parse(CNFEvalConfig, params["evaluate_cnf"], "evaluate_cnf")
    parse(CNFFiguresConfig, params["figures"]["cnf"], "figures.cnf")


@pytest.mark.parametrize(("task", "sel", "snapshots", "match"), [
    ("ml", {"target": "two_moons", "width": None}, None,
     r"snapshots \(--snapshots\) are required with task 'ml': the ml runs write the "
     r"budget axis"),
    ("capacity", {"target": None, "width": 2}, "s.pt",
     r"snapshots \(--snapshots\) are not used with task 'capacity'"),
])
def test_the_snapshots_rule_is_checked_in_one_place(task, sel, snapshots, match):
    """train_cnf's command line and train() both go through check_selection."""
    with pytest.raises(ValueError, match=match):
        check_selection(_cfg(), task, seed=0, snapshots=snapshots, **sel)
