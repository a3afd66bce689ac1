"""A stage's outputs are all or nothing: a failure anywhere in a stage leaves none of
its files behind (``dvc metrics show`` would report them), and its error names the
path. Stages run in-process here, through the same runner as on the command line."""

from __future__ import annotations

import errno
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests._stages import run_stage as _run_stage
from tests._stages import stage_argv

ROOT = Path(__file__).resolve().parents[1]
TINY_TOY = {"model": "linear", "steps": 3, "restarts": 1, "gif_frames": 2,
            "optim": {"name": "adam", "lr": 0.02}}
LINEAR = {"kind": "linear", "A": [[-0.1, -1.0], [1.0, -0.1]]}


def run_stage(name: str, argv: list[str], params: dict, cwd: Path, capsys) -> tuple[int, str]:
    """(exit status, last stderr line) of ``stages/<name>.py argv`` run in ``cwd``."""
    code, err = _run_stage(name, argv, params, cwd, capsys)
    return code, err[-1] if err else ""


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and p.name != "params.yaml")


@pytest.fixture(autouse=True)
def _no_tracking(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # fails at once


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("toydata")
    from neuralode_repro.config import parse
    from neuralode_repro.data.synthetic import GenerateDataConfig, generate

    cfg = parse(GenerateDataConfig, {"toy": {"n_points": 60, "extrapolate_points": 10,
                                             "systems": {"linear": LINEAR}},
                                     "spirals": {"n_spirals": 10}})
    generate(cfg, 0, out)
    return out


def _toy_params() -> dict:
    return {"common": {"seed": 0}, "train_toy": {"seeds": [0], "systems": {"linear": TINY_TOY}}}


def _toy_argv(toy_data: Path, **outs: str) -> list[str]:
    """train_toy's command line from dvc.yaml, data from ``toy_data``, ``outs`` moved."""
    argv = stage_argv("train_toy", name="linear", seed=0) + [
        "--data", str(toy_data / "toy/linear.npz")]
    for name, path in outs.items():
        argv += [f"--{name.replace('_', '-')}", path]
    return argv


def test_unwritable_last_output_leaves_no_earlier_one(tmp_path, toy_data, capsys):
    """The snapshots are written last: failing there removes the model file, log and
    summary written before it."""
    (tmp_path / "figs").write_text("a file where a folder should be")
    code, last = run_stage("train_toy", _toy_argv(toy_data, snapshots="figs/s.npz"),
                           _toy_params(), tmp_path, capsys)
    assert code == 1 and last.startswith("error: cannot write figs/s.npz"), last
    assert _files(tmp_path) == ["figs"]  # no model file, log or summary


def _small_disk(path: Path) -> bool:
    path.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(path)],
                       check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def test_full_disk_names_the_path_and_leaves_nothing(tmp_path, toy_data, capsys,
                                                      disk_full_after):
    disk = tmp_path / "disk"
    mounted = _small_disk(disk)
    if not mounted:  # no mount here: the disk fills after the second file instead
        disk_full_after(2)
    try:
        argv = _toy_argv(toy_data, weights="disk/m.pt", train_log="disk/log.csv",
                         summary="disk/train.json", snapshots="disk/snaps.npz")
        code, last = run_stage("train_toy", argv, _toy_params(), tmp_path, capsys)
        assert code == 1, last
        assert "No space left on device" in last and "cannot write disk/" in last, last
        assert os.listdir(disk) == []  # no model, CSV, JSON or snapshots; no folder either
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False, capture_output=True)


@pytest.mark.parametrize("second, pattern", [
    ({"kind": "linear", "A": [[-1.0e6, 0.0], [0.0, -1.0]]},  # stiff: the solve gives up
     r"generate_data\.toy\.systems\.b_second: dopri5: max_num_steps=\d+ exceeded"),
    ({"kind": "linear", "A": [[float("nan"), 0.0], [0.0, -1.0]]},  # refused at load
     r"generate_data\.toy\.systems\.b_second\.A\[0\]\[0\]: expected a finite number"),
], ids=["stiff", "nan"])
def test_generate_data_failing_second_system_leaves_no_first(tmp_path, capsys, second,
                                                             pattern):
    params = {"common": {"seed": 0}, "generate_data": {
        "toy": {"n_points": 60, "extrapolate_points": 10,
                "systems": {"a_first": LINEAR, "b_second": second}},
        "spirals": {"n_spirals": 10}}}
    code, last = run_stage("generate_data", ["--out", "data"], params, tmp_path, capsys)
    assert code == 1 and re.search(pattern, last), last
    assert not (tmp_path / "data").exists()  # a_first.npz was generated, then removed


def _cnf_params(**fig_over) -> dict:
    spec = {"steps": 2, "batch_size": 32}
    fig = {"samples": 64, "grid": 8, **fig_over}
    return {"common": {"seed": 0}, "train_cnf": {
        "ml": {"targets": {"two_moons": {"name": "two_moons", "noise": 0.05}},
               "cnf": {**spec, "model": {"kind": "cnf", "width": 4, "hidden": 8, "t1": 0.1,
                                         "solver": {"adjoint": False}}},
               "nf": {**spec, "model": {"kind": "nf", "width": 4}}},
        "capacity": {"target": {"name": "u1_ring"}, "widths": [2],
                     "cnf": {**spec, "model": {"kind": "cnf"}},
                     "nf": {**spec, "model": {"kind": "nf"}}}},
        "evaluate_cnf": {"ml": {"size": 64}, "capacity": {"size": 64, "log_z_grid": 100}},
        "figures": {"cnf": {"ml": fig, "capacity": {**fig, "lim": 4.0}}}}


def test_cnf_infinite_plot_box_is_refused_before_any_output(tmp_path, capsys):
    code, last = run_stage("figures_cnf", ["--weights-dir", "data/models/cnf",
                                           "--metrics-dir", "metrics/cnf", "--out",
                                           "reports/figures/cnf"],
                           _cnf_params(lim=float("inf")), tmp_path, capsys)
    assert code == 1
    assert "figures.cnf.ml.lim: expected a finite number, got inf" in last, last
    assert _files(tmp_path) == []


def test_cnf_failure_after_the_loss_curve_removes_it(tmp_path, capsys, monkeypatch):
    from neuralode_repro.experiments import cnf

    def broken(*_, **__):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(cnf, "write_json", broken)  # fails after the model and the log
    argv = stage_argv("train_cnf_ml", target="two_moons", model="nf", seed=0)  # as dvc runs it
    code, last = run_stage("train_cnf", argv, _cnf_params(), tmp_path, capsys)
    assert code == 1 and "Input/output error" in last, last
    assert _files(tmp_path) == []  # no model file, no metrics/cnf/ml/two_moons_nf-s0_log.csv
