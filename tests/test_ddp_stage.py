"""The MNIST stage under DDP, through DVC: ``train_mnist.nproc: 2`` makes the stage
relaunch itself under torchrun (2 gloo processes), rank 0 alone writes the outputs and
one MLflow run, and with a fixed-step solver (identical arithmetic on each half-batch)
the result matches ``nproc: 1`` up to floating-point effects. Nothing of the run
listens beyond loopback meanwhile."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import torch
import yaml

from tests._repo import MIRROR
from tests.test_listeners import _loopback, listeners
from tests.test_resume import _repo

EVALUATE = "evaluate_mnist@odenet-0"  # and train_mnist@odenet-0 before it
pytestmark = pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no MNIST mirror at {MIRROR}")


def _repro_watching(dst, env) -> tuple[subprocess.CompletedProcess, set]:
    """``dvc repro`` of the evaluation, and every socket its process tree listened on
    (sampled every 0.2 s; its output goes to files, which never fill up as a pipe does)."""
    logs = [dst.parent / "repro.out", dst.parent / "repro.err"]
    with logs[0].open("w") as out, logs[1].open("w") as err:
        proc = subprocess.Popen(["dvc", "repro", EVALUATE], cwd=dst, env=env, stdout=out,
                                stderr=err)
    seen: set = set()
    deadline = time.monotonic() + 600
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            seen.update(listeners(proc.pid))
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    stdout, stderr = (f.read_text() for f in logs)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), seen


def _run(dst, env, nproc: int) -> tuple[dict, dict, str]:
    params = yaml.safe_load((dst / "params.yaml").read_text())
    section = params["train_mnist"]
    section.update({"epochs": 1, "steps_per_epoch": 3, "nproc": nproc})
    section["models"]["odenet"]["solver"] = {"method": "rk4", "step_size": 0.5}
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out, seen = _repro_watching(dst, env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    exposed = [s for s in seen if not _loopback(s[1])]
    assert not exposed, f"nproc {nproc}: listening beyond loopback: {exposed}"
    assert nproc == 1 or seen, "no listener seen (gloo's, on loopback): sampled too late?"
    log = (dst / "metrics/mnist/odenet-s0_log.csv").read_text().splitlines()
    first_loss = float(log[1].split(",")[2])  # rank 0's loss at step 1
    weights = torch.load(dst / "data/models/mnist/odenet-s0.pt", weights_only=True)
    metrics = json.loads((dst / "metrics/mnist/odenet-s0.json").read_text())
    return {**metrics, "first_loss": first_loss}, weights, out.stdout


def test_two_processes_write_once_and_match_one(tmp_path):
    dst = tmp_path / "repo"
    env = _repo(dst)
    subprocess.run(["dvc", "repro", "download_mnist"], cwd=dst, env=env, check=True,
                   capture_output=True, timeout=300)
    single, single_w, _ = _run(dst, env, 1)
    ddp, ddp_w, log = _run(dst, env, 2)
    # rank 0 prints alone
    assert log.count("train_mnist@odenet-0 epoch 1: training accuracy") == 1, log
    assert ddp["nfe_backward_mean"] > 0  # the adjoint ran under DDP
    # rank 0 saw half of each batch (so DDP really ran), yet ...
    assert abs(ddp["first_loss"] - single["first_loss"]) > 1e-4
    # ... 3 SGD steps on shards of each batch, gradients averaged: the same weights (longer
    # runs at loss ~ln 10 amplify rounding differences to ~1% of a weight)
    state, ref = ddp_w["state_dict"], single_w["state_dict"]
    assert state.keys() == ref.keys()
    for name in ref:
        torch.testing.assert_close(state[name], ref[name], rtol=1e-4, atol=1e-5, msg=name)
    assert abs(ddp["test_error"] - single["test_error"]) <= 1.0  # one image in 100

    import mlflow  # one FINISHED run per `dvc repro`: nproc 2 added one, not two
    mlflow.set_tracking_uri(f"sqlite:///{dst / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True,
                              filter_string="tags.mlflow.runName LIKE 'train_mnist%'")
    assert len(runs) == 2 and set(runs["status"]) == {"FINISHED"}
