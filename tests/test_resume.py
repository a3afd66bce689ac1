"""Kill and resume, for real: `dvc repro` of a training stage is SIGKILLed mid-epoch,
the next `dvc repro` resumes from the last checkpoint, and the final metrics equal an
uninterrupted run's (same seed, CPU). A finished run is never resumed: neither by
`dvc repro -f` nor after a change to the code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests._repo import MIRROR, repo_copy
from tests.test_determinism import _without_times

STAGE = "train_mnist@odenet-0"
pytestmark = pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no MNIST mirror at {MIRROR}")


def _small_odenet(dst: Path, env: dict[str, str]) -> None:
    """params.yaml: a small 3-epoch ODE-Net (and the MLP, for the finished-run test)."""
    params = yaml.safe_load((dst / "params.yaml").read_text())
    models = params["train_mnist"]["models"]
    params["train_mnist"].update({
        "epochs": 3, "seeds": [0],
        "data": {**params["train_mnist"]["data"], "train_subset": 1024, "test_subset": 100,
                 "batch_size": 32, "test_batch_size": 100},
        "models": {"odenet": {**models["odenet"], "width": 16}, "mlp": models["mlp"]}})
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _repo(dst: Path) -> dict[str, str]:
    """A git + DVC copy of the repository with a small 3-epoch ODE-Net."""
    return repo_copy(dst, _small_odenet)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The copy, with MNIST prepared; tests run in file order, the code edit last."""
    dst = tmp_path_factory.mktemp("resume") / "repo"
    env = _repo(dst)
    subprocess.run(["dvc", "repro", "download_mnist"], cwd=dst, env=env, check=True,
                   capture_output=True, timeout=300)
    return dst, env


def _repro(dst: Path, env: dict[str, str], *extra: str) -> str:
    out = subprocess.run(["dvc", "repro", *extra, STAGE], cwd=dst, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def _metrics(dst: Path) -> dict:
    return json.loads((dst / "metrics/mnist/odenet-s0_train.json").read_text())


def test_sigkill_mid_epoch_then_repro_resumes(repo):
    dst, env = repo
    ckpts = dst / "checkpoints/mnist"
    proc = subprocess.Popen(["dvc", "repro", STAGE], cwd=dst, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(ckpts.glob("odenet-s0-*.pt")):  # epoch 1 done: now inside epoch 2
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # dvc and the stage, as an OOM killer would
    proc.wait()
    assert not (dst / "metrics/mnist/odenet-s0_train.json").exists(), "killed too late"

    resumed_log = _repro(dst, env)
    assert "resuming from checkpoints/mnist/odenet-s0-" in resumed_log
    assert "at epoch 1" in resumed_log
    resumed = _metrics(dst)
    assert resumed["epochs"] == 3

    for ckpt in ckpts.glob("*.pt"):  # now the same run, never interrupted
        ckpt.unlink()
    fresh_log = _repro(dst, env, "--force")
    assert "resuming" not in fresh_log
    assert _without_times(_metrics(dst)) == _without_times(resumed)


EVALUATE = """
import json, sys
from pathlib import Path
from neuralode_repro.data.mnist import MnistDataConfig, mnist_loaders
from neuralode_repro.experiments.mnist import load_model
from neuralode_repro.models.mnist import evaluate
model, _, config, _ = load_model(Path("data/models/mnist/mlp-s0.pt"))
_, test = mnist_loaders("data/mnist", MnistDataConfig(**config["data"]), seed=0)
print(json.dumps(evaluate(model, test)))
"""


def test_finished_run_is_never_resumed(repo):
    """Repro of the bug: a finished checkpoint replaced training after a code change
    (and `dvc repro -f` "resumed" it too). Now a run clears its checkpoint once its
    outputs are published, and checkpoints are keyed by the code."""
    dst, env = repo
    stage, evaluation = "train_mnist@mlp-0", "evaluate_mnist@mlp-0"
    first = subprocess.run(["dvc", "repro", evaluation], cwd=dst, env=env, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert not list((dst / "checkpoints/mnist").glob("mlp-s0-*.pt"))  # -f cannot resume

    model_py = dst / "src/neuralode_repro/models/mnist.py"
    code = model_py.read_text()
    line = "        return self.head(self.features(self.downsample(x)))"
    assert line in code
    model_py.write_text(code.replace(line, line.replace("return ", "return 0.0 * ")))
    changed = subprocess.run(["dvc", "repro", evaluation], cwd=dst, env=env, capture_output=True,
                             text=True, timeout=600)
    log = changed.stdout + changed.stderr
    assert changed.returncode == 0 and f"Running stage '{stage}'" in log, log[-3000:]
    assert "resuming" not in log
    reported = json.loads((dst / "metrics/mnist/mlp-s0.json").read_text())["test_error"]
    evaluated = subprocess.run([sys.executable, "-c", EVALUATE], cwd=dst, env=env,
                               capture_output=True, text=True, timeout=300, check=True)
    assert reported == json.loads(evaluated.stdout)  # the number is the saved model's
    assert reported > 80  # zero logits: every image is called a 0
