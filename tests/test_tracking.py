"""Tracking never loses results; where the store is: test_tracking_store.py."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuralode_repro import tracking, tracking_store

ROOT = Path(__file__).resolve().parents[1]


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
    out = subprocess.run([sys.executable, str(ROOT / "stages/run.py"), "generate_data",
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
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'm.db'}")
    runs = mlflow.search_runs(experiment_names=["exp"])
    assert list(runs["status"]) == ["FAILED"] and list(runs["params.lr"]) == ["0.1"]
    assert list(runs["tags.stage"]) == ["train_x"]


def test_artifacts_live_beside_the_store_not_in_the_working_directory(tmp_path, monkeypatch):
    """MLflow's default artifact root is ./mlruns of the creating process: a DVC
    temporary workspace (deleted afterwards, the artifacts with it), or the repository
    when a test points the store at a temporary folder."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store/m.db'}")
    (tmp_path / "store").mkdir()
    (tmp_path / "a.txt").write_text("x")
    with tracking.stage_run("train_x", "exp", {}, profile="tiny", seed=0) as tracker:
        tracker.log_artifact(tmp_path / "a.txt")
    assert not (work / "mlruns").exists()
    assert [p.name for p in (tmp_path / "store/mlruns").rglob("a.txt")] == ["a.txt"]
    assert tracking_store.artifact_root("http://127.0.0.1:5000") is None


DROPOUT = """
import sys
from mlflow.tracking.client import MlflowClient
from neuralode_repro import tracking, tracking_store

real = MlflowClient.log_batch

def flaky(self, run_id, metrics=(), *args, **kwargs):
    if metrics:
        raise ConnectionError("store went away")
    return real(self, run_id, metrics, *args, **kwargs)

MlflowClient.log_batch = flaky
with tracking.stage_run("train_x", "exp", {"lr": 0.1}, profile="tiny", seed=0) as tracker:
    tracker.log_metrics({"loss": 1.0})
    tracker.flush()  # tracking drops out here
    MlflowClient.log_batch = real  # the store is back for the end of the run
    raise SystemExit("stage failed")
"""


def test_failure_after_tracking_dropped_out_is_failed_not_finished(tmp_path):
    """MLflow's exit hook used to end the still-active run as FINISHED."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    out = subprocess.run([sys.executable, "-c", DROPOUT], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert out.returncode == 1 and "stage failed" in out.stderr, out.stderr[-2000:]
    assert out.stderr.count("MLflow tracking disabled for stage train_x") == 1
    mlflow.set_tracking_uri(uri)
    assert list(mlflow.search_runs(experiment_names=["exp"])["status"]) == ["FAILED"]


KILLED = """
import os, signal
from neuralode_repro import tracking, tracking_store
with tracking.stage_run("train_x", "exp", {}, profile="tiny", seed=0):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_run_is_marked_killed_by_the_next_execution(tmp_path, monkeypatch):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    subprocess.run([sys.executable, "-c", KILLED], timeout=300, env=dict(os.environ))
    mlflow.set_tracking_uri(uri)
    assert list(mlflow.search_runs(experiment_names=["exp"])["status"]) == ["RUNNING"]
    with tracking.stage_run("train_y", "exp", {}, profile="tiny", seed=0):
        pass  # another stage: not its business
    with tracking.stage_run("train_x", "exp", {}, profile="tiny", seed=0):
        pass
    runs = mlflow.search_runs(experiment_names=["exp"], order_by=["attributes.start_time"])
    assert list(runs["status"]) == ["KILLED", "FINISHED", "FINISHED"]


def test_running_run_of_a_live_process_is_left_alone(tmp_path, monkeypatch):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with tracking.stage_run("train_x", "exp", {}, profile="tiny", seed=0):
        # a second execution of the same stage while this one runs (e.g. a DVC queue)
        with tracking.stage_run("train_x", "exp", {}, profile="tiny", seed=1):
            pass
    mlflow.set_tracking_uri(uri)
    assert set(mlflow.search_runs(experiment_names=["exp"])["status"]) == {"FINISHED"}


@pytest.fixture
def read_only_store(tmp_path):
    """A store on a tmpfs remounted read-only (root ignores file permissions)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)],
                       check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("mount is not permitted here")
    uri = f"sqlite:///{mnt / 'm.db'}"
    try:
        with tracking.stage_run("warmup", "exp", {}, profile="tiny", seed=0):
            pass
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True,
                       capture_output=True, timeout=10)
        yield uri
    finally:
        subprocess.run(["umount", str(mnt)], check=False, capture_output=True)


def test_read_only_store_prints_one_warning_and_no_traceback(read_only_store, monkeypatch,
                                                               capfd):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", read_only_store)
    with tracking.stage_run("train_x", "exp", {"lr": 0.1}, profile="tiny", seed=0) as t:
        t.log_metrics({"loss": 1.0})
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("warning: MLflow tracking disabled for stage train_x")
    assert "is read-only" in err[0]


def _stage_job(model=None, metrics=None, tags=None):
    """A stage through the real runner: params {"steps": 3, "optim": {"lr": 0.1}}."""
    import argparse

    from neuralode_repro import runner

    def prepare(ctx):
        return runner.Job("train_x", {"steps": 3, "optim": {"lr": 0.1}},
                          lambda _: runner.Result(metrics or {}, model=model),
                          tags=tags or {})
    return runner.execute(prepare, argparse.Namespace(params=str(ROOT / "params.yaml")))


def test_runner_logs_model_tags_kind_and_results_only(tmp_path, monkeypatch):
    """A training stage's model is an MLflow Model that loads back and works; an
    evaluation's link tag is searchable; config values never become metrics; the
    experiment opens as model training, not GenAI."""
    import mlflow
    import mlflow.pytorch
    import torch

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # MLflow puts artifacts under ./mlruns
    model = torch.nn.Linear(3, 2)
    _stage_job(model=model, metrics={"final_loss": 0.5, "steps": 3, "lr": 0.1, "seed": 0})
    mlflow.set_tracking_uri(uri)
    exp = mlflow.get_experiment_by_name("neural-ode-reproduction")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    (run,) = mlflow.search_runs([exp.experiment_id], output_format="list")
    assert run.data.metrics == {"final_loss": 0.5}  # steps, lr, seed are params
    assert run.data.params == {"steps": "3", "optim.lr": "0.1"}
    loaded = mlflow.pytorch.load_model(f"runs:/{run.info.run_id}/model")
    x = torch.randn(4, 3)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    (logged,) = mlflow.search_logged_models(experiment_ids=[exp.experiment_id],
                                            output_format="list")
    assert logged.source_run_id == run.info.run_id
    torch.testing.assert_close(mlflow.pytorch.load_model(f"models:/{logged.model_id}")(x),
                               model(x), rtol=0, atol=0)
    _stage_job(tags={tracking.TRAIN_RUN_TAG: run.info.run_id})
    linked = mlflow.search_runs([exp.experiment_id], output_format="list", filter_string=
                                f"tags.`neuralode.train_run_id` = '{run.info.run_id}'")
    assert len(linked) == 1 and linked[0].info.run_id != run.info.run_id


def test_experiment_without_kind_gets_it(tmp_path, monkeypatch):
    """A store made before the kind was set (the UI then opened in GenAI mode)."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = mlflow.MlflowClient(uri)
    exp_id = client.create_experiment("exp")
    with tracking.stage_run("train_x", "exp", {}, profile="tiny", seed=0):
        pass
    assert client.get_experiment(exp_id).tags[tracking.KIND_TAG] == tracking.KIND
