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
    from neuralode.config import parse
    from neuralode.data.synthetic import GenerateDataConfig, generate

    cfg = parse(GenerateDataConfig, {"toy": {"n_points": 60, "extrapolate_points": 10,
                                             "systems": {"linear": LINEAR}},
                                     "spirals": {"n_spirals": 10}})
    generate(cfg, 0, out)
    return out


def _toy_params() -> dict:
    return {"common": {"seed": 0}, "train_toy": {"linear": TINY_TOY}}


def test_unwritable_figures_folder_leaves_no_metrics(tmp_path, toy_data, capsys):
    (tmp_path / "figs").write_text("a file where the figures folder should be")
    code, last = run_stage("train_toy", ["linear", "--data", str(toy_data), "--figures",
                                         "figs"], _toy_params(), tmp_path, capsys)
    assert code == 1 and last.startswith("error: cannot write figs/toy/linear/"), last
    assert _files(tmp_path) == ["figs"]  # neither linear.json nor linear_loss.csv


def _small_disk(path: Path) -> bool:
    path.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=150k", "tmpfs", str(path)],
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
        code, last = run_stage("train_toy", ["linear", "--data", str(toy_data), "--metrics",
                                             "disk/metrics", "--figures", "disk/figures"],
                               _toy_params(), tmp_path, capsys)
        assert code == 1, last
        assert "No space left on device" in last and "cannot write disk/" in last, last
        assert os.listdir(disk) == []  # no JSON, CSV or figure; no folder either
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


def _cnf_params(**eval_over) -> dict:
    spec = {"steps": 2, "batch_size": 32}
    ev = {"size": 64, "samples": 64, "grid": 8, **eval_over}
    return {"common": {"seed": 0}, "train_cnf": {
        "ml": {"targets": {"two_moons": {"name": "two_moons", "noise": 0.05}},
               "cnf": {**spec, "model": {"kind": "cnf", "width": 4, "hidden": 8, "t1": 0.1,
                                         "solver": {"adjoint": False}}},
               "nf": {**spec, "model": {"kind": "nf", "width": 4}}, "eval": ev},
        "capacity": {"target": {"name": "u1_ring"}, "widths": [2],
                     "cnf": {**spec, "model": {"kind": "cnf"}},
                     "nf": {**spec, "model": {"kind": "nf"}}}}}


def test_cnf_infinite_plot_box_is_refused_before_any_output(tmp_path, capsys):
    code, last = run_stage("train_cnf", ["--task", "ml", "--model", "nf", "--target",
                                         "two_moons"], _cnf_params(lim=float("inf")),
                           tmp_path, capsys)
    assert code == 1
    assert "train_cnf.ml.eval.lim: expected a finite number, got inf" in last, last
    assert _files(tmp_path) == []


def test_cnf_failure_after_the_loss_curve_removes_it(tmp_path, capsys, monkeypatch):
    from neuralode.figures import cnf as figs

    def broken(*_, **__):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(figs, "transformation", broken)  # fails after the CSV is written
    code, last = run_stage("train_cnf", ["--task", "ml", "--model", "nf", "--target",
                                         "two_moons"], _cnf_params(), tmp_path, capsys)
    assert code == 1 and "Input/output error" in last, last
    assert _files(tmp_path) == []  # no metrics/cnf/ml/two_moons_nf_loss.csv
