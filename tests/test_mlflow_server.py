"""Shared tracking: a stage logs to an `mlflow server` on loopback (temp sqlite store),
and its run is found through the REST API."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests._net import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _get(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


@pytest.fixture
def server(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):  # up to 60 s to start
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("mlflow server exited during start-up")
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not answer /health within 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_stage_logs_to_loopback_server(server, tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": server, "MLFLOW_DISABLE_TELEMETRY": "true",
           "NEURALODE_REPRO_ID": "server-test"}
    out = subprocess.run([sys.executable, str(ROOT / "stages/run.py"), "generate_data",
                          "--out", str(tmp_path / "data"), "--params", str(ROOT / "params.yaml")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "tracking disabled" not in out.stderr
    exp = _get(f"{server}/api/2.0/mlflow/experiments/get-by-name"
               "?experiment_name=neural-ode-reproduction")["experiment"]
    runs = _get(f"{server}/api/2.0/mlflow/runs/search",
                {"experiment_ids": [exp["experiment_id"]],
                 "filter": "tags.reproduction = 'server-test'"})["runs"]
    assert len(runs) == 1
    run = runs[0]
    assert run["info"]["run_name"] == "generate_data" and run["info"]["status"] == "FINISHED"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["toy.n_points"] == "200"
