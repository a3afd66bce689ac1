"""The bad-input catalogue: what a user sees when a stage is given something wrong.

Every case runs a real stage (in-process, through the runner its command line uses;
tests/test_cli.py runs the command line itself) and must end with one ``error: ...``
line naming the problem, exit status 1, no traceback, and no output that looks
complete.
"""

from __future__ import annotations

import gzip
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from neuralode_repro.config import load_params, parse
from neuralode_repro.data.synthetic import GenerateDataConfig, generate
from tests._repo import MIRROR
from tests._stages import run_stage as _run_stage
from tests._stages import stage_argv

ROOT = Path(__file__).resolve().parents[1]
TOY = {"model": "linear", "steps": 3, "optim": {"name": "adam", "lr": 0.02}, "restarts": 1,
       "gif_frames": 2, "solver": {"method": "dopri5", "rtol": 1e-5, "atol": 1e-6}}


def _toy(**patch) -> dict:
    """params.yaml with one toy experiment, ``patch`` merged one level deep."""
    linear = {**TOY, **{k: v for k, v in patch.items() if k != "common"}}
    if "solver" in patch:
        linear["solver"] = {**TOY["solver"], **patch["solver"]}
    return {"common": {"seed": 0, **patch.get("common", {})},
            "train_toy": {"seeds": [0], "systems": {"linear": linear}}}


def _truncate(mirror: Path) -> None:
    """Copy the mirror and cut one file short, as an interrupted copy would."""
    shutil.copytree(MIRROR, mirror)
    f = next(p for p in sorted(mirror.iterdir()) if p.name.startswith("t10k-labels"))
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])


def _corrupt(mirror: Path) -> None:
    """Copy the mirror and flip labels in one file: it decompresses, its MD5 is wrong."""
    shutil.copytree(MIRROR, mirror)
    f = next(p for p in sorted(mirror.iterdir()) if p.name.startswith("t10k-labels"))
    raw = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
    bad = raw[:-1] + bytes([(raw[-1] + 1) % 10])
    f.write_bytes(gzip.compress(bad) if f.suffix == ".gz" else bad)


MNIST = {"common": {"seed": 0}, "download_mnist": {"mirror": None}}
TOY_ARGS = ["train_toy", *stage_argv("train_toy", name="linear", seed=0)]  # as dvc.yaml runs it
DOWNLOAD = ["download_mnist", *stage_argv("download_mnist")]

# id -> (stage args, params, extra env, setup(tmp) or None, regex the error line must match)
Case = tuple[list[str], dict, dict, Callable[[Path], None] | None, str]
CASES: dict[str, Case] = {
    "unknown params key": (TOY_ARGS, _toy(stepz=3), {}, None,
                           r"train_toy\.systems\.linear: unknown key\(s\) 'stepz'"),
    "wrong type": (TOY_ARGS, _toy(steps="many"), {}, None,
                   r"train_toy\.systems\.linear\.steps: expected an integer, got 'many'"),
    "out-of-range value": (TOY_ARGS, _toy(steps=-5), {}, None,
                           r"train_toy\.systems\.linear\.steps: must be >= 1, got -5"),
    "unknown solver": (TOY_ARGS, _toy(solver={"method": "rk45"}), {}, None,
                       r"method: unknown solver 'rk45'; valid: .*dopri5"),
    "unknown model": (TOY_ARGS, _toy(model="quadratic"), {}, None,
                      r"train_toy\.systems\.linear\.model: expected one of .*'linear'.*got "
                      r"'quadratic'"),
    "unknown experiment": (["train_toy", *stage_argv("train_toy", name="cubic", seed=0)], _toy(),
                           {}, None, r"train_toy\.systems has no experiment 'cubic' \(have: "
                                     r"linear\); pick one or add it there"),
    "seed not in the matrix": (["train_toy", *stage_argv("train_toy", name="linear", seed=7)],
                               _toy(), {}, None,
                               r"--seed 7 is not in train_toy\.seeds \[0\]; pick one of them"),
    "tolerance <= 0": (TOY_ARGS, _toy(solver={"rtol": 0.0}), {}, None,
                       r"solver\.rtol: must be > 0, got 0\.0"),
    "absurd rtol": (TOY_ARGS, _toy(solver={"rtol": 50.0}), {}, None,
                    r"solver\.rtol: must be <= 1, got 50\.0"),
    "missing input file": ([*TOY_ARGS, "--data", "nowhere/toy/linear.npz"], _toy(), {}, None,
                           r"nowhere/toy/linear\.npz not found; run `dvc repro`"),
    "cuda without a GPU": (TOY_ARGS, _toy(common={"device": "cuda"}), {}, None,
                           r"'cuda' requested but no CUDA GPU is available"),
    "unwritable output folder": ([*TOY_ARGS, "--train-log", "afile/metrics/linear_log.csv"],
                                 _toy(), {}, lambda d: (d / "afile").write_text("x"),
                                 r"afile"),
    "MNIST mirror missing": ([*DOWNLOAD, "--mirror", "no/such/dir"], MNIST, {}, None,
                             r"MNIST mirror folder .*no/such/dir does not exist"),
    "MNIST file truncated": ([*DOWNLOAD, "--mirror", "mirror"], MNIST, {},
                             lambda d: _truncate(d / "mirror"),
                             r"t10k-labels.*(truncated|checksum mismatch)"),
    "MNIST checksum mismatch": ([*DOWNLOAD, "--mirror", "mirror"], MNIST, {},
                                lambda d: _corrupt(d / "mirror"),
                                r"t10k-labels.*checksum mismatch"),
}
OUTPUTS = ("metrics/toy/linear-s0_train.json", "metrics/toy/linear-s0_log.csv",
           "data/models/toy/linear-s0.pt", "data/mnist")


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    params = load_params(ROOT / "params.yaml")
    generate(parse(GenerateDataConfig, params["generate_data"]), 0, out)
    return out


def run_stage(tmp: Path, args: list[str], params: dict, env: dict, toy_data: Path,
              capsys, monkeypatch) -> tuple[int, list[str]]:
    if not (tmp / "data").exists():
        shutil.copytree(toy_data, tmp / "data")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/m.db")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    script, *rest = args
    return _run_stage(script, rest, params, tmp, capsys)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line(case, tmp_path, toy_data, capsys, monkeypatch):
    args, params, env, setup, pattern = CASES[case]
    if case == "cuda without a GPU" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    if case.startswith("MNIST") and not MIRROR.is_dir():
        pytest.skip(f"no MNIST mirror at {MIRROR}")
    if setup:
        setup(tmp_path)
    code, err = run_stage(tmp_path, args, params, env, toy_data, capsys, monkeypatch)
    assert code == 1, err[-20:]
    assert not any("Traceback" in line for line in err)
    last = err[-1]
    assert last.startswith("error: ") and "\n" not in last
    assert re.search(pattern, last), last
    for rel in OUTPUTS:
        assert not (tmp_path / rel).exists(), f"{rel} left behind after: {last}"


def test_blow_up_is_a_failed_mlflow_run_with_params(tmp_path, toy_data, capsys, monkeypatch):
    """Dynamics that blow up: a SolverError with its remedy, and a FAILED run."""
    import mlflow

    params = _toy(init_std=200.0, solver={"max_num_steps": 200})
    code, err = run_stage(tmp_path, TOY_ARGS, params, {}, toy_data, capsys,
                          monkeypatch)
    assert code == 1 and not any("Traceback" in line for line in err)
    assert err[-1].startswith("error: ") and "max_num_steps" in err[-1], err[-1]
    assert not (tmp_path / "metrics/toy/linear-s0_train.json").exists()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/m.db")
    runs = mlflow.search_runs(experiment_names=["neural-ode-reproduction"])
    assert list(runs["status"]) == ["FAILED"]
    assert list(runs["params.init_std"]) == ["200.0"]


def test_unreachable_tracking_server_warns_and_writes(tmp_path, toy_data, capsys,
                                                      monkeypatch):
    code, err = run_stage(tmp_path, TOY_ARGS, _toy(),
                          {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}, toy_data, capsys,
                          monkeypatch)
    assert code == 0, err[-20:]
    assert sum("MLflow tracking disabled for stage train_toy@linear-0" in e for e in err) == 1
    assert (tmp_path / "metrics/toy/linear-s0_train.json").exists()
