"""`make ui` opens the pipeline's experiment on its runs: the URL it prints, and (slow,
with Debian's chromium) a real browser's view of the runs list and of one run. A port
already taken fails at once with one error line, before any URL."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from neuralode_repro import tracking, tracking_store, ui
from tests._net import free_port

ROOT = Path(__file__).resolve().parents[1]
EXP = "neural-ode-reproduction"  # common.mlflow_experiment in params.yaml


def _store(tmp_path: Path, monkeypatch) -> Path:
    """A store with one finished training run, logged by the pipeline's tracking code."""
    db = tmp_path / "store/mlflow.db"
    db.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    with tracking.stage_run("train_toy@linear-0", EXP, {"steps": 10}, profile="tiny",
                            seed=0) as tracker:
        for step, loss in enumerate((0.5, 0.2, 0.1), 1):
            tracker.log_metrics({"loss": loss}, step=step)
        tracker.log_results({"traj_mse": 0.01}, [])
    return db


def test_url_opens_the_experiment_in_the_model_training_view(tmp_path, monkeypatch):
    import mlflow

    db = _store(tmp_path, monkeypatch)
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    want = mlflow.get_experiment_by_name(EXP).experiment_id
    assert tracking_store.sqlite_path(f"sqlite:///{db}") == db
    assert ui.experiment_id(db, EXP) == want
    assert ui.runs_url("http://127.0.0.1:5000", want) == \
        f"http://127.0.0.1:5000/#/experiments/{want}?workflowType=machine_learning"
    assert ui.experiment_id(db, "no-such-experiment") is None
    assert ui.experiment_id(tmp_path / "none.db", EXP) is None
    (tmp_path / "plain.db").write_bytes(b"not a database")
    assert ui.experiment_id(tmp_path / "plain.db", EXP) is None
    assert tracking_store.sqlite_path("http://127.0.0.1:5000") is None


def test_a_taken_port_fails_with_one_line_before_the_url(tmp_path):
    with socket.socket() as busy:  # another server on the port
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "neuralode_repro.ui", "--port", str(port),
                              "--params", str(ROOT / "params.yaml")], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "MLFLOW_TRACKING_URI":
                                  f"sqlite:///{tmp_path / 'mlflow.db'}"})
    assert out.returncode == 1, out.stderr[-3000:]
    assert out.stdout == ""  # no URL: it would open whatever listens there
    assert out.stderr == (f"error: port {port} on 127.0.0.1 is already in use (another "
                          f"`make ui` or server?); stop that, or pick another port: "
                          f"`make ui UI_PORT={port + 1}` (or `python -m neuralode_repro.ui "
                          f"--port {port + 1}`)\n")


def test_a_free_port_prints_the_url_then_starts_mlflow_there(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    started = []
    monkeypatch.setattr(ui.os, "execve", lambda *call: started.append(call))  # no server
    port = free_port()
    ui.main(["--port", str(port), "--params", str(ROOT / "params.yaml")])
    assert capsys.readouterr().out.startswith(
        f"MLflow UI: http://127.0.0.1:{port}/#/experiments?workflowType=machine_learning")
    (_, argv, env), = started
    assert argv[argv.index("--host") + 1:] == ["127.0.0.1", "--port", str(port)]
    # the server runs with the pipeline's MLflow settings (it got them from an import
    # side effect of tracking.py before; ui.py no longer imports it)
    assert all(env[k] == os.environ.get(k, v) for k, v in tracking_store.MLFLOW_SETTINGS.items())


def test_bind_problems_name_the_value_and_the_fix():
    assert ui.bind_problem("127.0.0.1", free_port()) is None
    assert ui.bind_problem("127.0.0.1", 70000).startswith(
        "--port 70000 is not a TCP port (1-65535); pick one")
    assert "keep the default 127.0.0.1" in ui.bind_problem("192.0.2.254", 5000)
    assert "keep the default 127.0.0.1" in ui.bind_problem("no-such-host.invalid", 5000)


def _shot(url: str, png: Path) -> str:
    """The page's DOM after its scripts ran, and a screenshot of it."""
    base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--window-size=1400,900", "--virtual-time-budget=20000"]
    subprocess.run([*base, f"--screenshot={png}", url], capture_output=True, timeout=120,
                   check=True)
    return subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True,
                          timeout=120, check=True).stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium "
                    "(Debian: apt-get install chromium)")
def test_ui_shows_the_runs_in_a_real_browser(tmp_path, monkeypatch):
    """Screenshots land in $UI_SHOTS (default: this test's temporary folder)."""
    db = _store(tmp_path, monkeypatch)
    shots = Path(os.environ.get("UI_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    start = time.monotonic()
    server = subprocess.Popen([sys.executable, "-m", "neuralode_repro.ui", "--port", str(port),
                               "--params", str(ROOT / "params.yaml")], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              start_new_session=True, env={**os.environ,
                                                           "MLFLOW_TRACKING_URI": f"sqlite:///{db}"})
    try:
        url = re.search(r"MLflow UI: (\S+)", server.stdout.readline()).group(1)
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() - start < 120
                time.sleep(0.3)
        ready = time.monotonic() - start
        runs = _shot(url, shots / "runs.png")
        assert "train_toy@linear-0" in runs and "No data available" not in runs
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{db}")
        run_id = mlflow.search_runs(experiment_names=[EXP])["run_id"][0]
        page = _shot(url.replace("?", f"/runs/{run_id}?"), shots / "run.png")
        assert "traj_mse" in page and "steps" in page
        print(f"UI ready in {ready:.1f} s; screenshots: {shots}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_make_ui_takes_the_port_its_error_names():
    """The taken-port error suggests `make ui UI_PORT=<n>`: the Makefile passes it on."""
    out = subprocess.run(["make", "-n", "-o", "install", "ui", "UI_PORT=5057"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "-m neuralode_repro.ui --port 5057" in out, out
