"""Stages fail with one readable line and a non-zero exit, no traceback."""

import os
import subprocess
import sys
from pathlib import Path

from tests._stages import stage_argv

ROOT = Path(__file__).resolve().parents[1]


def _stage(args, tmp_path, **env):
    if args == ["linear"]:  # the command line dvc.yaml gives it
        args = stage_argv("train_toy", name="linear", seed=0)
    return subprocess.run([sys.executable, str(ROOT / "stages/run.py"), "train_toy", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db",
                               **env})


def test_bad_param_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text("common: {seed: 0}\ntrain_toy:\n  systems:\n    linear:\n"
                                          "      model: linear\n      steps: -5\n")
    out = _stage(["linear"], tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == \
        "error: params.yaml:train_toy.systems.linear.steps: must be >= 1, got -5"
    assert "Traceback" not in out.stderr


def test_missing_input_and_debug_traceback(tmp_path):
    (tmp_path / "params.yaml").write_text("common: {seed: 0}\ntrain_toy:\n  systems:\n    linear:\n"
                                          "      model: linear\n")
    out = _stage(["linear"], tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "data/toy/linear.npz not found; run `dvc repro`" in out.stderr
    out = _stage(["linear"], tmp_path, NEURALODE_DEBUG="1")
    assert out.returncode == 1 and "Traceback" in out.stderr


def test_duplicate_key_in_a_direct_run_is_one_line(tmp_path):
    """DVC refuses a duplicate key itself; a stage run directly must too (PyYAML kept
    the last value silently)."""
    (tmp_path / "params.yaml").write_text("common: {seed: 0}\ntrain_toy:\n  systems:\n    linear:\n"
                                          "      model: linear\n      steps: 5\n      steps: 500\n")
    out = _stage(["linear"], tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == \
        "error: params.yaml: duplicate key 'steps' at line 7 (first at line 6); keep one of them"


def _bare_python() -> str | None:
    """An interpreter that cannot import the pipeline (the system's), if there is one."""
    for cand in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if Path(cand).is_file() and subprocess.run(
                [cand, "-c", "import neuralode_repro"], capture_output=True,
                env={"PATH": "/usr/bin:/bin"}).returncode != 0:
            return cand
    return None


def test_stage_under_a_bare_python_reruns_under_the_venv_or_says_what_to_do(tmp_path):
    """`.venv/bin/dvc exp run` without an activated venv runs `python stages/...` with the
    system's python: the stage switches to the nearest .venv, or names the fix."""
    import pytest

    bare = _bare_python()
    if bare is None:
        pytest.skip("no interpreter without the pipeline installed")
    stages = tmp_path / "repo/stages"
    stages.mkdir(parents=True)
    for name in ("run.py", "report.py"):
        (stages / name).write_bytes((ROOT / "stages" / name).read_bytes())
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([bare, str(stages / "run.py"), "report", "--help"], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (f"error: {bare} cannot import neuralode_repro; run `make "
                                  "install`, then `source .venv/bin/activate` (or run `make "
                                  "repro`, which needs neither)")
    (tmp_path / "repo/.venv").symlink_to(Path(sys.prefix))  # this test's venv
    out = subprocess.run([bare, str(stages / "run.py"), "report", "--help"], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("usage: stages/run.py report")
