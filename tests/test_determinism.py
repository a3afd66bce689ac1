"""Same seed, same CPU: two runs of a stage write identical metrics files.

Wall-clock values are the one exception, by convention: their keys end in ``_s``
(``wall_time_s``, ``epoch_time_s``) and are dropped before comparing.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from neuralode_repro.config import parse
from neuralode_repro.data.synthetic import GenerateDataConfig, generate

ROOT = Path(__file__).resolve().parents[1]


def _without_times(obj):
    if isinstance(obj, dict):
        return {k: _without_times(v) for k, v in obj.items() if not k.endswith("_s")}
    if isinstance(obj, list):
        return [_without_times(v) for v in obj]
    return obj


def _tiny_params(tmp_path: Path) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    tiny = yaml.safe_load((ROOT / "profiles/tiny.yaml").read_text())
    linear = params["train_toy"]["systems"]["linear"]
    linear.update(tiny["train_toy"]["systems"]["linear"], steps=25)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_train_toy_twice_gives_identical_metrics(tmp_path):
    params = _tiny_params(tmp_path)
    data = tmp_path / "data"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}"}
    generate(parse(GenerateDataConfig, yaml.safe_load(params.read_text())["generate_data"]),
             0, data)  # in-process: the two stage runs below are what is compared
    outputs = []
    for run in ("a", "b"):
        d = tmp_path / run
        out = subprocess.run([sys.executable, str(ROOT / "stages/run.py"), "train_toy",
                              "--name", "linear",
                              "--seed", "0", "--params", str(params),
                              "--data", str(data / "toy/linear.npz"),
                              "--weights", str(d / "linear.pt"), "--train-log", str(d / "log.csv"),
                              "--summary", str(d / "linear_train.json"),
                              "--snapshots", str(d / "snaps.npz")],
                             env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        outputs.append(d)
    a, b = (json.loads((d / "linear_train.json").read_text()) for d in outputs)
    assert "train_time_s" in a and a["steps"] == 25
    assert _without_times(a) == _without_times(b)
    for name in ("log.csv", "snaps.npz"):
        assert (outputs[0] / name).read_bytes() == (outputs[1] / name).read_bytes()
    shutil.rmtree(tmp_path / "a")
