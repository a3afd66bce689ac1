"""Tracking never loses results, and finds the store from inside DVC temp workspaces."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuralode import tracking

ROOT = Path(__file__).resolve().parents[1]


def test_repo_root_maps_out_of_dvc_temp_workspace(monkeypatch, tmp_path):
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "proj/.dvc/tmp/exps/tmpab12"))
    assert tracking.repo_root() == (tmp_path / "proj").resolve()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.tracking_uri() == f"sqlite:///{(tmp_path / 'proj').resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.tracking_uri() == "http://127.0.0.1:5000"


def test_git_commit_is_dirty_for_code_not_for_run_outputs(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       cwd=tmp_path, check=True, capture_output=True)
    for rel in ("dvc.lock", "metrics/m.json", "reports/report.md", "src/code.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("v1")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "init")
    head = tracking.git_commit(tmp_path)
    assert len(head) == 40
    for rel in ("dvc.lock", "metrics/m.json", "reports/report.md"):  # what dvc repro writes
        (tmp_path / rel).write_text("v2")
    assert tracking.git_commit(tmp_path) == head
    (tmp_path / "src/code.py").write_text("v2")
    assert tracking.git_commit(tmp_path) == head + "-dirty"


def test_flatten():
    assert tracking.flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == \
        {"a.b": 1, "a.c.d": 2, "e": 3}


def test_unreachable_store_warns_once_and_stage_still_writes(tmp_path):
    """A real stage run against a tracking server that does not exist."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    out = subprocess.run([sys.executable, str(ROOT / "stages/generate_data.py"),
                          "--out", str(tmp_path / "data"), "--params", str(ROOT / "params.yaml")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("MLflow tracking disabled for stage generate_data") == 1
    assert (tmp_path / "data/toy/linear.npz").exists()


def test_failed_stage_is_recorded_as_failed_run(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    with pytest.raises(RuntimeError, match="boom"), \
            tracking.stage_run("train_x", "exp", {"lr": 0.1}, profile="tiny", seed=1):
        raise RuntimeError("boom")
    runs = mlflow.search_runs(experiment_names=["exp"])
    assert list(runs["status"]) == ["FAILED"] and list(runs["params.lr"]) == ["0.1"]
    assert list(runs["tags.stage"]) == ["train_x"]
