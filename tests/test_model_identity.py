"""A stage that reads the model of one run (evaluate_*, nfe_study, figures_*) checks that
the model file and the training summary are that run's, the one its command line asks
for (experiment, model, seed and the rest of its name, data), before it writes
anything: a mismatch, or a file older code wrote, is one ``error:`` line naming both
sides and the fix, exit status 1, and no output written or overwritten (issue 32).

The runs are trained by their real stages, once per module, on tiny params; every case
then runs a stage, as dvc.yaml's cmd does, on a copy with one argument or file swapped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from neuralode_repro import runner
from neuralode_repro.artifacts import save_model
from neuralode_repro.config import load_params, parse
from neuralode_repro.data.synthetic import GenerateDataConfig, generate
from neuralode_repro.models.mnist import MnistModelConfig, build_model
from tests._stages import run_stage, stage_argv, stage_module

ROOT = Path(__file__).resolve().parents[1]
TOY = {"model": "linear", "steps": 3, "optim": {"name": "adam", "lr": 0.02}, "restarts": 1,
       "gif_frames": 2, "solver": {"method": "dopri5", "rtol": 1e-5, "atol": 1e-6}}
CNF_SPEC = {"steps": 2, "batch_size": 32}
FIG = {"samples": 64, "grid": 8}
_REPO = load_params(ROOT / "params.yaml")
PARAMS = {
    "common": {"seed": 0, "device": "cpu"},
    "generate_data": {"spirals": {"n_obs": [30, 50]}},
    "train_toy": {"seeds": [0, 1], "systems": {
        "linear": TOY, "nonlinear": {**TOY, "model": "mlp", "hidden": [4]}}},
    "train_latent": {"iterations": 2, "batch_size": 4, "models": {"rnn": {"model": "rnn"}}},
    "train_cnf": {"seeds": [0], "ml": {
        "targets": {"two_moons": {"name": "two_moons", "noise": 0.05}},
        "cnf": {**CNF_SPEC, "model": {"kind": "cnf", "width": 4, "hidden": 8, "t1": 0.1,
                                      "solver": {"adjoint": False}}},
        "nf": {**CNF_SPEC, "model": {"kind": "nf", "width": 4}}},
        "capacity": {"target": {"name": "u1_ring"}, "widths": [1, 2],
                     "cnf": {**CNF_SPEC, "model": {"kind": "cnf"}},
                     "nf": {**CNF_SPEC, "model": {"kind": "nf"}}}},
    "evaluate_cnf": {"ml": {"size": 64, "budget_size": 32},
                     "capacity": {"size": 64, "log_z_grid": 100}},
    "figures": {"latent": {"points": 20, "projection_spirals": 4, "interpolation_steps": 3},
                "cnf": {"ml": FIG, "capacity": {**FIG, "lim": 4.0}}},
    # read before any MNIST data: the model files of these runs are written by hand
    "train_mnist": _REPO["train_mnist"], "nfe_study": _REPO["nfe_study"],
}
TRAINED = [  # (stage, dvc.yaml stage, matrix values) of every run the cases read
    ("train_toy", "train_toy", {"name": "linear", "seed": 0}),
    ("train_toy", "train_toy", {"name": "linear", "seed": 1}),
    ("train_toy", "train_toy", {"name": "nonlinear", "seed": 0}),
    ("train_latent", "train_latent", {"model": "rnn", "n_obs": 30, "seed": 0}),
    ("train_latent", "train_latent", {"model": "rnn", "n_obs": 50, "seed": 0}),
    ("train_cnf", "train_cnf_ml", {"target": "two_moons", "model": "nf", "seed": 0}),
    ("train_cnf", "train_cnf_ml", {"target": "two_moons", "model": "cnf", "seed": 0}),
    ("train_cnf", "train_cnf_capacity", {"model": "nf", "width": 1, "seed": 0}),
    ("train_cnf", "train_cnf_capacity", {"model": "nf", "width": 2, "seed": 0}),
]
# the evaluation the fixture runs correctly first: the cases must leave its outputs alone
EVALUATED = ("metrics/toy/linear-s0.json", "data/eval/toy/linear-s0.npz")


def _main(stage: str, argv: list[str], cwd: Path) -> None:
    """A stage as its command line runs it, outside a test (no capsys): it must succeed."""
    module = stage_module(stage)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{cwd / 'mlflow.db'}")
        try:
            runner.main(module.prepare, module.parser(), argv)
        except SystemExit as stop:
            raise AssertionError(f"{stage} {' '.join(argv)} failed ({stop.code})") from None


def _mnist_file(path: Path, identity: dict | None) -> None:
    """A model file as train_mnist writes it, of a small MLP (no case reads an MNIST
    image), with ``identity`` in its meta (None: as older code wrote it)."""
    config = {"model": {"kind": "mlp", "mlp_hidden": 8}}
    save_model(path, build_model(parse(MnistModelConfig, config["model"])), config,
               meta={"mlflow_run_id": "", **({"identity": identity} if identity else {})})


def _mnist_id(model: str, seed: int = 0) -> dict:
    return {"experiment": "mnist", "model": model, "seed": seed, "data": "data/mnist"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A working directory with the tiny params, the data, every run of TRAINED trained
    by its stage, evaluate_toy@linear-0's outputs, and hand-written MNIST model files."""
    cwd = tmp_path_factory.mktemp("runs")
    (cwd / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    gen = {**_REPO["generate_data"],
           "spirals": {**_REPO["generate_data"]["spirals"], "n_spirals": 16,
                       "n_obs": [30, 50], "test_fraction": 0.25}}
    generate(parse(GenerateDataConfig, gen), 0, cwd / "data")
    for script, stage, item in TRAINED:
        _main(script, stage_argv(stage, **item), cwd)
    _main("evaluate_toy", stage_argv("evaluate_toy", name="linear", seed=0), cwd)
    assert all((cwd / rel).is_file() for rel in EVALUATED)
    for model in ("mlp", "odenet"):
        _mnist_file(cwd / f"data/models/mnist/{model}-s0.pt", _mnist_id(model))
        (cwd / f"metrics/mnist/{model}-s0_train.json").parent.mkdir(parents=True,
                                                                     exist_ok=True)
        (cwd / f"metrics/mnist/{model}-s0_train.json").write_text(
            json.dumps({"model": model, "seed": 0}))
    _mnist_file(cwd / "data/models/mnist/old.pt", None)
    return cwd


def _strip_identity(src: str, dst: str) -> Callable[[Path], None]:
    """Setup: ``dst``, a copy of the model file ``src`` as older code wrote it (no identity)."""
    def setup(cwd: Path) -> None:
        state = torch.load(cwd / src, weights_only=True)
        state["meta"].pop("identity", None)
        torch.save(state, cwd / dst)
    return setup


def _old_summary(src: str, dst: str) -> Callable[[Path], None]:
    """Setup: ``dst``, a copy of the training summary ``src`` without its ``model``."""
    def setup(cwd: Path) -> None:
        facts = json.loads((cwd / src).read_text())
        facts.pop("model", None)
        (cwd / dst).write_text(json.dumps(facts))
    return setup


def _swap(src: str, dst: str) -> Callable[[Path], None]:
    """Setup: the file ``dst`` replaced by a copy of ``src`` (another run's)."""
    return lambda cwd: shutil.copyfile(cwd / src, cwd / dst)


TOY_ARGS = stage_argv("evaluate_toy", name="linear", seed=0)
TOY_WANT = (r"the command line asks for experiment=toy, model=linear, seed=0, "
            r"data=data/toy/linear\.npz; pass the files of that run \(as dvc\.yaml's cmd "
            r"does\), or retrain it: dvc repro train_toy@linear-0$")
LATENT_ARGS = stage_argv("evaluate_latent", model="rnn", n_obs=30, seed=0)
ML_ARGS = stage_argv("evaluate_cnf_ml", target="two_moons", model="nf", seed=0)
CAP_ARGS = stage_argv("evaluate_cnf_capacity", model="nf", width=1, seed=0)
MNIST_ARGS = stage_argv("evaluate_mnist", model="odenet", seed=0)
NFE_ARGS = stage_argv("nfe_study", nfe_study__model="odenet", nfe_study__seed=0)

# id -> (stage script, argv, setup(cwd) or None, regex of the error line, outputs that
# must stay as they were: absent, or (EVALUATED) unchanged)
Case = tuple[str, list[str], Callable[[Path], None] | None, str, tuple[str, ...]]
CASES: dict[str, Case] = {
    "toy: another experiment's model": (
        "evaluate_toy", [*TOY_ARGS, "--weights", "data/models/toy/nonlinear-s0.pt"], None,
        r"^error: data/models/toy/nonlinear-s0\.pt is the model file of experiment=toy, "
        r"model=nonlinear, seed=0, data=data/toy/nonlinear\.npz, but " + TOY_WANT, EVALUATED),
    "toy: another seed's model": (
        "evaluate_toy", [*TOY_ARGS, "--weights", "data/models/toy/linear-s1.pt"], None,
        r"^error: data/models/toy/linear-s1\.pt is the model file of experiment=toy, "
        r"model=linear, seed=1, data=data/toy/linear\.npz, but " + TOY_WANT, EVALUATED),
    "toy: the command line's seed is not the files'": (
        "evaluate_toy", [*TOY_ARGS, "--seed", "1"], None,
        r"^error: data/models/toy/linear-s0\.pt is the model file of .*seed=0.*, but the "
        r"command line asks for experiment=toy, model=linear, seed=1, "
        r"data=data/toy/linear\.npz; .* dvc repro train_toy@linear-1$", EVALUATED),
    "toy: other data than the model's": (
        "evaluate_toy", [*TOY_ARGS, "--data", "data/toy/nonlinear.npz"], None,
        r"^error: data/models/toy/linear-s0\.pt is the model file of experiment=toy, "
        r"model=linear, seed=0, data=data/toy/linear\.npz, but the command line asks for "
        r"experiment=toy, model=linear, seed=0, data=data/toy/nonlinear\.npz; ", EVALUATED),
    "toy: another experiment's summary": (
        "evaluate_toy", [*TOY_ARGS, "--summary", "metrics/toy/nonlinear-s0_train.json"], None,
        r"^error: metrics/toy/nonlinear-s0_train\.json is the training summary of "
        r"model=nonlinear, seed=0, but the command line asks for model=linear, seed=0; "
        r"pass the files of that run .* dvc repro train_toy@linear-0$", EVALUATED),
    "toy: another seed's summary": (
        "evaluate_toy", [*TOY_ARGS, "--summary", "metrics/toy/linear-s1_train.json"], None,
        r"^error: metrics/toy/linear-s1_train\.json is the training summary of model=linear, "
        r"seed=1, but the command line asks for model=linear, seed=0; ", EVALUATED),
    "toy: a model file without identity": (
        "evaluate_toy", [*TOY_ARGS, "--weights", "old.pt"],
        _strip_identity("data/models/toy/linear-s0.pt", "old.pt"),
        r"^error: old\.pt records no run identity \(experiment, model, seed, data\): older "
        r"code wrote it, so it cannot be checked against the run the command line asks for "
        r"\(experiment=toy, model=linear, seed=0, data=data/toy/linear\.npz\); retrain it: "
        r"dvc repro -f train_toy@linear-0$", EVALUATED),
    "toy: a summary without identity": (
        "evaluate_toy", [*TOY_ARGS, "--summary", "old_train.json"],
        _old_summary("metrics/toy/linear-s0_train.json", "old_train.json"),
        r"^error: old_train\.json records no run identity \(model, seed\): older code wrote "
        r"it, .*retrain it: dvc repro -f train_toy@linear-0$", EVALUATED),
    "latent: another n_obs's model": (
        "evaluate_latent", [*LATENT_ARGS, "--weights", "data/models/latent/rnn_n50-s0.pt"],
        None,
        r"^error: data/models/latent/rnn_n50-s0\.pt is the model file of experiment=latent, "
        r"model=rnn, n_obs=50, seed=0, data=data/spirals\.npz, but the command line asks "
        r"for experiment=latent, model=rnn, n_obs=30, seed=0, data=data/spirals\.npz; .* "
        r"dvc repro train_latent@rnn-30-0$", ("metrics/latent/rnn_n30-s0.json",)),
    "latent: another n_obs's summary": (
        "evaluate_latent",
        [*LATENT_ARGS, "--summary", "metrics/latent/rnn_n50-s0_train.json"], None,
        r"^error: metrics/latent/rnn_n50-s0_train\.json is the training summary of "
        r"model=rnn, n_obs=50, seed=0, but the command line asks for model=rnn, n_obs=30, "
        r"seed=0; ", ("metrics/latent/rnn_n30-s0.json",)),
    "cnf ml: the other model's file": (
        "evaluate_cnf", [*ML_ARGS, "--weights", "data/models/cnf/ml/two_moons_cnf-s0.pt"],
        None,
        r"^error: data/models/cnf/ml/two_moons_cnf-s0\.pt is the model file of "
        r"experiment=cnf, model=cnf, task=ml, target=two_moons, seed=0, but the command "
        r"line asks for experiment=cnf, model=nf, task=ml, target=two_moons, seed=0; .* "
        r"dvc repro train_cnf_ml@two_moons-nf-0$",
        ("metrics/cnf/ml/two_moons_nf-s0.json", "metrics/cnf/ml/two_moons_nf-s0_budget.csv")),
    "cnf capacity: another width's model": (
        "evaluate_cnf", [*CAP_ARGS, "--weights", "data/models/cnf/capacity/nf_2-s0.pt"], None,
        r"^error: data/models/cnf/capacity/nf_2-s0\.pt is the model file of experiment=cnf, "
        r"model=nf, task=capacity, width=2, seed=0, but the command line asks for "
        r"experiment=cnf, model=nf, task=capacity, width=1, seed=0; .* "
        r"dvc repro train_cnf_capacity@nf-1-0$", ("metrics/cnf/capacity/nf_1-s0.json",)),
    "cnf capacity: another width's summary": (
        "evaluate_cnf",
        [*CAP_ARGS, "--summary", "metrics/cnf/capacity/nf_2-s0_train.json"], None,
        r"^error: metrics/cnf/capacity/nf_2-s0_train\.json is the training summary of "
        r"model=nf, task=capacity, width=2, seed=0, but the command line asks for model=nf, "
        r"task=capacity, width=1, seed=0; ", ("metrics/cnf/capacity/nf_1-s0.json",)),
    "cnf: a width with --task ml": (
        "evaluate_cnf", [*ML_ARGS, "--width", "2"], None,
        r"^error: --width is not used with --task ml; pass the run's selection as "
        r"dvc\.yaml's cmd does$", ("metrics/cnf/ml/two_moons_nf-s0.json",)),
    "mnist: another model's file": (
        "evaluate_mnist", [*MNIST_ARGS, "--weights", "data/models/mnist/mlp-s0.pt"], None,
        r"^error: data/models/mnist/mlp-s0\.pt is the model file of experiment=mnist, "
        r"model=mlp, seed=0, data=data/mnist, but the command line asks for "
        r"experiment=mnist, model=odenet, seed=0, data=data/mnist; .* "
        r"dvc repro train_mnist@odenet-0$", ("metrics/mnist/odenet-s0.json",)),
    "mnist: another model's summary": (
        "evaluate_mnist", [*MNIST_ARGS, "--summary", "metrics/mnist/mlp-s0_train.json"], None,
        r"^error: metrics/mnist/mlp-s0_train\.json is the training summary of model=mlp, "
        r"seed=0, but the command line asks for model=odenet, seed=0; ",
        ("metrics/mnist/odenet-s0.json",)),
    "mnist: a model file without identity": (
        "evaluate_mnist", [*MNIST_ARGS, "--weights", "data/models/mnist/old.pt"], None,
        r"^error: data/models/mnist/old\.pt records no run identity .* retrain it: "
        r"dvc repro -f train_mnist@odenet-0$", ("metrics/mnist/odenet-s0.json",)),
    "nfe_study: another run's model": (
        "nfe_study", [*NFE_ARGS, "--weights", "data/models/mnist/mlp-s0.pt"], None,
        r"^error: data/models/mnist/mlp-s0\.pt is the model file of experiment=mnist, "
        r"model=mlp, seed=0, .* asks for experiment=mnist, model=odenet, seed=0, "
        r"data=data/mnist; ", ("metrics/mnist/nfe_study.json",)),
    "figures_toy: another experiment's model under this run's name": (
        "figures_toy", stage_argv("figures_toy"),
        _swap("data/models/toy/nonlinear-s0.pt", "data/models/toy/linear-s0.pt"),
        r"^error: data/models/toy/linear-s0\.pt is the model file of experiment=toy, "
        r"model=nonlinear, .* asks for experiment=toy, model=linear, seed=0, "
        r"data=data/toy/linear\.npz; ", ("reports/figures/toy",)),
    "figures_latent: another n_obs's model under this run's name": (
        "figures_latent", stage_argv("figures_latent"),
        _swap("data/models/latent/rnn_n50-s0.pt", "data/models/latent/rnn_n30-s0.pt"),
        r"^error: data/models/latent/rnn_n30-s0\.pt is the model file of .*n_obs=50, "
        r"seed=0, .* asks for experiment=latent, model=rnn, n_obs=30, seed=0, ",
        ("reports/figures/latent",)),
    "figures_cnf: the other model under this run's name": (
        "figures_cnf", stage_argv("figures_cnf"),
        _swap("data/models/cnf/ml/two_moons_nf-s0.pt", "data/models/cnf/ml/two_moons_cnf-s0.pt"),
        r"^error: data/models/cnf/ml/two_moons_cnf-s0\.pt is the model file of "
        r"experiment=cnf, model=nf, .* asks for experiment=cnf, model=cnf, task=ml, "
        r"target=two_moons, seed=0; ", ("reports/figures/cnf",)),
}


def _snapshot(cwd: Path, rels: tuple[str, ...]) -> dict[str, bytes | None]:
    return {rel: (cwd / rel).read_bytes() if (cwd / rel).is_file() else None for rel in rels}


@pytest.mark.parametrize("case", list(CASES))
def test_a_file_of_another_run_is_one_error_line_and_writes_nothing(case, trained, tmp_path,
                                                                    capsys, monkeypatch):
    script, argv, setup, pattern, outputs = CASES[case]
    cwd = tmp_path / "w"
    shutil.copytree(trained, cwd, ignore=shutil.ignore_patterns("mlflow.db"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{cwd / 'mlflow.db'}")
    if setup is not None:
        setup(cwd)
    before = _snapshot(cwd, outputs)
    code, err = run_stage(script, argv, None, cwd, capsys)
    assert code == 1, err[-20:]
    assert not any("Traceback" in line for line in err), err
    assert [line for line in err if line.startswith("error:")] == [err[-1]], err
    assert re.search(pattern, err[-1]), err[-1]
    after = _snapshot(cwd, outputs)
    assert after == before, f"{[r for r in outputs if after[r] != before[r]]} written"
    assert not any((cwd / rel).is_dir() for rel in outputs)  # no figures folder either


def test_the_command_line_prints_one_error_line(trained, tmp_path):
    """The issue's case, as a user types it: evaluate_toy linear given the MLP's model
    file exits 1 with one line on stderr, and linear-s0.json keeps the linear scores."""
    cwd = tmp_path / "w"
    shutil.copytree(trained, cwd, ignore=shutil.ignore_patterns("mlflow.db"))
    before = _snapshot(cwd, EVALUATED)
    out = subprocess.run([sys.executable, str(ROOT / "stages/run.py"), "evaluate_toy", *TOY_ARGS,
                          "--weights", "data/models/toy/nonlinear-s0.pt"], cwd=cwd,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd}/m.db"})
    assert out.returncode == 1, out.stderr[-2000:]
    assert out.stderr.splitlines() == [out.stderr.strip()], out.stderr
    assert out.stderr.startswith("error: data/models/toy/nonlinear-s0.pt is the model file "
                                 "of experiment=toy, model=nonlinear"), out.stderr
    assert _snapshot(cwd, EVALUATED) == before


def test_the_runs_own_files_pass(trained, tmp_path, capsys, monkeypatch):
    """The cmd of dvc.yaml, unchanged, evaluates and draws: the checks accept the files
    its own training stages wrote (evaluate_toy@linear-0 already ran in the fixture)."""
    cwd = tmp_path / "w"
    shutil.copytree(trained, cwd, ignore=shutil.ignore_patterns("mlflow.db"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{cwd / 'mlflow.db'}")
    for script, argv in (("evaluate_latent", LATENT_ARGS), ("evaluate_cnf", ML_ARGS),
                         ("evaluate_cnf", CAP_ARGS)):
        code, err = run_stage(script, argv, None, cwd, capsys)
        assert code == 0, err[-20:]
    assert (cwd / "metrics/latent/rnn_n30-s0.json").is_file()
    assert (cwd / "metrics/cnf/ml/two_moons_nf-s0.json").is_file()
    assert (cwd / "metrics/cnf/capacity/nf_1-s0.json").is_file()


# --- the check itself (artifacts) --------------------------------------------------------

def test_identity_names_the_data_as_the_repository_does(tmp_path, monkeypatch):
    from neuralode_repro.runs import run

    def data(path: str | Path) -> str:
        return run("toy", name="linear", seed=0).identity(path).keys["data"]

    monkeypatch.chdir(tmp_path)  # no dvc.yaml up the tree: relative to the working dir
    assert {data(d) for d in ("data/toy/linear.npz", "./data/toy/../toy/linear.npz",
                              tmp_path / "data/toy/linear.npz")} == {"data/toy/linear.npz"}
    outside = tmp_path.parent / "elsewhere.npz"
    assert data(outside) == outside.as_posix()
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")  # a repository: relative to its root
    (tmp_path / "stages").mkdir()
    monkeypatch.chdir(tmp_path / "stages")
    assert data("../data/toy/linear.npz") == "data/toy/linear.npz"
    assert list(run("latent", model="rnn", n_obs=30, seed=1).identity("d").keys) == [
        "experiment", "model", "n_obs", "seed", "data"]


@pytest.mark.parametrize(("found", "match"), [
    ({"experiment": "toy", "model": "nonlinear", "seed": 0, "data": "d.npz"},
     r"^m\.pt is the model file of experiment=toy, model=nonlinear, seed=0, data=d\.npz, "
     r"but the command line asks for experiment=toy, model=linear, seed=0, data=d\.npz; "
     r"pass the files of that run \(as dvc\.yaml's cmd does\), or retrain it: "
     r"dvc repro train_toy@linear-0$"),
    ({"experiment": "toy", "model": "linear", "seed": 2, "data": "d.npz"}, r"seed=2, data"),
    ({"experiment": "toy", "model": "linear", "seed": 0, "data": "e.npz"}, r"data=e\.npz, but"),
    ({"experiment": "mnist", "model": "linear", "seed": 0, "data": "d.npz"},
     r"of experiment=mnist, model=linear"),
    ({"model": "linear", "seed": 0}, r"^m\.pt records no run identity \(experiment, model, "
                                     r"seed, data\): older code wrote it, .* retrain it: "
                                     r"dvc repro -f train_toy@linear-0$"),
    (None, r"^m\.pt records no run identity"),
])
def test_check_identity_refuses_another_run(found, match):
    from neuralode_repro.artifacts import check_identity
    from neuralode_repro.runs import run

    expected = run("toy", name="linear", seed=0).identity("d.npz")
    meta = {"mlflow_run_id": "", **({"identity": found} if found is not None else {})}
    with pytest.raises(ValueError, match=match):
        check_identity("m.pt", meta, expected)
    check_identity("m.pt", {"identity": dict(expected.keys)}, expected)  # its own: passes


def test_read_summary_checks_the_keys_a_summary_records(tmp_path):
    from neuralode_repro.artifacts import read_summary
    from neuralode_repro.runs import run

    expected = run("toy", name="linear", seed=0).identity("d.npz")
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"model": "linear", "seed": 0, "final_loss": 0.5}))
    assert read_summary(path, expected)["final_loss"] == 0.5  # no experiment, data: fine
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match=r"s\.json is not a training summary \(a JSON "
                                         r"object\); rerun its training stage: dvc repro "
                                         r"-f train_toy@linear-0$"):
        read_summary(path, expected)
