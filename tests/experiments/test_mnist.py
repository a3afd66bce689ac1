"""MNIST stages' logic (paper sec. 3, Table 1 and Figure 3) on a few hundred images:
a tiny run trained, evaluated from its saved model and drawn; checkpoint resume,
config errors, memory sweep, NFE study."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralode_repro.config import ConfigError, parse
from neuralode_repro.data.mnist import prepare_mnist, resolve_mirror
from neuralode_repro.experiments import mnist_memory, nfe_study
from neuralode_repro.experiments.mnist import (
    MnistTrainConfig,
    checkpoint_for,
    config_hash,
    evaluate_saved,
    load_model,
    train,
)
from neuralode_repro.experiments.mnist_curve import CurveConfig, evaluate_curve
from neuralode_repro.figures import mnist as figs
from neuralode_repro.snapshots import read_snapshots, snapshot_steps
from neuralode_repro.tracking import Tracker

ROOT = Path(__file__).resolve().parents[2]
MIRROR = resolve_mirror(None) or ROOT.parent / "shared" / "mnist"
pytestmark = pytest.mark.skipif(not (MIRROR / "train-labels-idx1-ubyte.gz").is_file(),
                                reason=f"no MNIST mirror at {MIRROR}; set MNIST_MIRROR")
MODELS = {"odenet": {"kind": "odenet", "downsampling": "conv", "width": 16},
          "rknet": {"kind": "rknet", "downsampling": "conv", "width": 16},
          "resnet": {"kind": "resnet", "downsampling": "conv", "width": 16, "n_res_blocks": 2},
          "mlp": {"kind": "mlp", "mlp_hidden": 32}}


def _cfg(**over) -> MnistTrainConfig:
    base = {"models": MODELS, "epochs": 1, "memory_batch": 16,
            "data": {"batch_size": 50, "test_batch_size": 50, "train_subset": 200,
                     "test_subset": 100, "augment": False},
            "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "schedule": "onecycle"}}
    return parse(MnistTrainConfig, {**base, **over}, "train_mnist")


def _tracker() -> Tracker:
    tracker = Tracker("test", "test", {})
    tracker.enabled = False
    return tracker


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return prepare_mnist(tmp_path_factory.mktemp("mnist") / "mnist", mirror=MIRROR)


def _paths(out: Path, run: str) -> dict[str, Path]:
    return {"weights": out / "models" / f"{run}.pt", "log": out / "metrics" / f"{run}_log.csv",
            "summary": out / "metrics" / f"{run}_train.json",
            "snapshots": out / "models" / f"{run}_snapshots.pt"}


def _train(name: str, cfg: MnistTrainConfig, root: Path, out: Path, seed: int = 0) -> dict:
    """train, then evaluate_saved on the model file (what the two stages do)."""
    run = f"{name}-s{seed}"
    _, facts = train(name, cfg, seed=seed, data_root=root, tracker=_tracker(),
                     checkpoint_dir=out / "ckpt", **_paths(out, run))
    return {**facts, **evaluate_saved(load_model(_paths(out, run)["weights"]), cfg,
                                      data_root=root)}


@pytest.fixture(scope="module")
def odenet_run(root, tmp_path_factory):
    out = tmp_path_factory.mktemp("odenet")
    return out, _train("odenet", _cfg(), root, out)


def _check_outputs(out: Path, run: str, metrics: dict, steps: int) -> None:
    written = json.loads((out / "metrics" / f"{run}_train.json").read_text())
    assert written == {k: metrics[k] for k in written}
    rows = (out / "metrics" / f"{run}_log.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,loss,nfe_forward,nfe_backward,lr,accuracy,time"
    assert len(rows) == steps + 1
    assert (out / "models" / f"{run}.pt").stat().st_size > 1000
    (out / "metrics" / f"{run}.json").write_text(json.dumps(metrics))  # evaluate_mnist's
    figs.training_curves(figs_rows(out, run), steps, metrics["test_error"], run,
                         out / "figures" / f"{run}_training.png")
    assert (out / "figures" / f"{run}_training.png").stat().st_size > 1000


def figs_rows(out: Path, run: str) -> list[dict]:
    from neuralode_repro.io import read_csv

    return read_csv(out / "metrics" / f"{run}_log.csv")


def test_odenet_tiny_run(odenet_run):
    out, m = odenet_run
    for key in ("test_error", "final_loss", "peak_memory_mb", "epoch_time_s",
                "nfe_forward_mean", "nfe_backward_mean", "test_nfe_forward"):
        assert math.isfinite(m[key]), key
    assert 0 <= m["test_error"] <= 100 and m["peak_memory_mb"] > 0
    assert m["nfe_forward_mean"] >= 6 and m["nfe_backward_mean"] >= 6  # dopri5, adjoint
    assert m["steps_per_epoch"] == 4 and m["resumed_from_epoch"] == 0
    _check_outputs(out, "odenet-s0", m, 4)


@pytest.mark.parametrize("name", ["rknet", "resnet", "mlp"])
def test_other_models_tiny_run(name, root, tmp_path):
    m = _train(name, _cfg(), root, tmp_path)
    assert math.isfinite(m["test_error"]) and m["n_params"] > 0
    assert m["nfe_backward_mean"] == 0  # direct backprop or no solver at all
    assert (m["nfe_forward_mean"] > 0) == (name == "rknet")
    _check_outputs(tmp_path, f"{name}-s0", m, 4)


def test_killed_run_resumes_and_matches_uninterrupted(root, tmp_path):
    """1 epoch, then the same config with 2 epochs (multistep: the hash ignores
    ``epochs``) resumes at epoch 1 and ends where a straight 2-epoch run does."""
    optim = {"name": "sgd", "lr": 0.05, "momentum": 0.9, "schedule": "multistep",
             "milestones": [1]}
    first = _train("mlp", _cfg(optim=optim, epochs=1), root, tmp_path / "a")
    assert first["resumed_from_epoch"] == 0
    resumed = _train("mlp", _cfg(optim=optim, epochs=2), root, tmp_path / "a")
    straight = _train("mlp", _cfg(optim=optim, epochs=2), root, tmp_path / "b")
    assert resumed["resumed_from_epoch"] == 1 and straight["resumed_from_epoch"] == 0
    for key in ("test_error", "final_loss", "nfe_forward_mean"):
        assert resumed[key] == straight[key], key
    assert len((tmp_path / "a/metrics/mlp-s0_log.csv").read_text().splitlines()) == 9
    # the learning curve's snapshots of epoch 1 survived the resume
    snaps = [read_snapshots(tmp_path / d / "models/mlp-s0_snapshots.pt") for d in "ab"]
    assert snaps[0]["steps"] == snaps[1]["steps"] == snapshot_steps(8, 8) == list(range(1, 9))
    for a, b in zip(snaps[0]["states"], snaps[1]["states"], strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_learning_curve_scores_each_snapshot(odenet_run, root):
    """Snapshots at equal fractions of the run; the last is the final model, so its
    curve point is the final test error (same 100 test images: seed 0 = the run's)."""
    out, m = odenet_run
    snaps = read_snapshots(out / "models" / "odenet-s0_snapshots.pt")
    assert snaps["steps"] == [1, 2, 3, 4] and snaps["epochs"] == [0.25, 0.5, 0.75, 1.0]
    saved = load_model(out / "models" / "odenet-s0.pt")
    rows = evaluate_curve(saved.model, saved.config, snaps, CurveConfig(test_subset=100), root)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["test_error"] == m["test_error"]
    assert all(0 <= r["test_error"] <= 100 for r in rows)
    assert snapshot_steps(1000, 3) == [333, 667, 1000] and snapshot_steps(2, 5) == [1, 2]
    none = read_snapshots(_train_no_curve(root, out.parent / "nocurve"))
    assert none["steps"] == [] and evaluate_curve(saved.model, saved.config, none,
                                                  CurveConfig(), root) == []


def _train_no_curve(root: Path, out: Path) -> Path:
    _train("mlp", _cfg(curve={"points": 0}), root, out)
    return out / "models" / "mlp-s0_snapshots.pt"


def test_changed_config_starts_over(root, tmp_path):
    cfg = _cfg()
    _train("mlp", cfg, root, tmp_path)
    old = tmp_path / "ckpt" / f"mlp-s0-{config_hash(cfg, 'mlp', 0)}.pt"
    assert old.exists()
    changed = _cfg(epochs=2)  # onecycle spans the run: another lr at every step
    assert config_hash(changed, "mlp", 0) != config_hash(cfg, "mlp", 0)
    assert _train("mlp", changed, root, tmp_path)["resumed_from_epoch"] == 0
    assert not old.exists()  # replaced once the new run had saved its own
    # other runs' checkpoints are not this run's; "-s1-" must not match "-s10-"
    (tmp_path / "ckpt" / "mlp-s10-abc.pt").write_bytes(b"x")
    _, others = checkpoint_for(tmp_path / "ckpt", _cfg(seeds=[1, 10]), "mlp", 1)
    assert others == []


def test_failing_run_keeps_the_previous_setups_checkpoint(root, tmp_path):
    """A new setup that fails before its first checkpoint costs the old one nothing."""
    cfg = _cfg()
    _train("mlp", cfg, root, tmp_path)
    old = tmp_path / "ckpt" / f"mlp-s0-{config_hash(cfg, 'mlp', 0)}.pt"
    assert old.exists()
    diverging = _cfg(optim={"name": "sgd", "lr": 1e30, "momentum": 0.9,
                            "schedule": "onecycle"})
    with pytest.raises(FloatingPointError, match="loss is"):
        _train("mlp", diverging, root, tmp_path)
    assert old.exists()


def test_code_change_is_a_new_checkpoint(monkeypatch):
    from neuralode_repro.experiments import mnist

    cfg = _cfg()
    before = config_hash(cfg, "mlp", 0)
    monkeypatch.setattr(mnist, "_code_hash", lambda: "other code")
    assert config_hash(cfg, "mlp", 0) != before


@pytest.mark.parametrize("garbage", [b"", b"not a checkpoint", b"PK\x03\x04truncated zip"],
                         ids=["empty", "text", "truncated"])
def test_unreadable_checkpoint_is_reported_and_retrained(root, tmp_path, garbage):
    cfg = _cfg()
    ckpt = tmp_path / "ckpt" / f"mlp-s0-{config_hash(cfg, 'mlp', 0)}.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(garbage)
    with pytest.warns(UserWarning, match=rf"checkpoint {ckpt} is unreadable .*training from "
                                         "the start"):
        m = _train("mlp", cfg, root, tmp_path)
    assert m["resumed_from_epoch"] == 0 and math.isfinite(m["test_error"])


def test_config_errors(root, tmp_path):
    with pytest.raises(ConfigError, match=r"no model 'vgg'; defined: odenet, rknet"):
        _train("vgg", _cfg(), root, tmp_path)
    with pytest.raises(ConfigError, match=r"models: name 'ode-net' may use only letters"):
        _cfg(models={"ode-net": {"kind": "odenet"}})
    with pytest.raises(ConfigError, match=r"seeds: expected a non-empty list of distinct"):
        _cfg(seeds=[0, 0])
    with pytest.raises(ConfigError, match=r"train_mnist.epochs: must be >= 1, got 0"):
        _cfg(epochs=0)
    with pytest.raises(ConfigError, match=r"models.mlp.kind: expected one of"):
        _cfg(models={"mlp": {"kind": "perceptron"}})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) 'lr'"):
        _cfg(lr=0.1)
    with pytest.raises(ConfigError, match=r"'dopri5' is not a fixed-grid solver"):
        parse(mnist_memory.MnistMemoryConfig, {"method": "dopri5"})
    with pytest.raises(ConfigError, match=r"steps: expected at least two increasing"):
        parse(mnist_memory.MnistMemoryConfig, {"steps": [8, 4]})
    with pytest.raises(ConfigError, match=r"reference_tol=0.001 must be below"):
        parse(nfe_study.NfeStudyConfig, {"reference_tol": 1e-3})
    with pytest.raises(ConfigError, match=r"tolerances: expected at least 3 values in"):
        parse(nfe_study.NfeStudyConfig, {"tolerances": [1e-3, 2.0, 0.1]})


def test_download_stage_missing_mirror_is_one_line(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("common: {}\ndownload_mnist: {mirror: null}\n")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'm.db'}"}
    out = subprocess.run([sys.executable, str(ROOT / "stages/run.py"), "download_mnist", "--params",
                          str(params), "--mirror", str(tmp_path / "nowhere"), "--out",
                          str(tmp_path / "mnist")], env=env, capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("error: MNIST mirror folder")
    assert not (tmp_path / "mnist").exists()


def test_memory_flat_for_adjoint_growing_for_backprop(tmp_path):
    cfg = parse(mnist_memory.MnistMemoryConfig, {"batch_size": 4, "steps": [2, 4, 8]})
    m = mnist_memory.run(cfg, _cfg().models["odenet"], json_path=tmp_path / "memory.json",
                         csv_path=tmp_path / "memory.csv")
    assert m["nfe_forward"] == [8, 16, 32] and m["odenet_nfe_backward"] == [8, 16, 32]
    assert m["odenet_spread"] <= 0.10  # O(1) in depth
    assert m["rknet_mb"][0] < m["rknet_mb"][1] < m["rknet_mb"][2]
    assert m["rknet_growth"] > 2
    assert len((tmp_path / "memory.csv").read_text().splitlines()) == 4


def test_nfe_study_on_tiny_model(odenet_run, root, tmp_path):
    out, _ = odenet_run
    cfg = parse(nfe_study.NfeStudyConfig, {"tolerances": [1e-4, 1e-3, 1e-2, 1e-1],
                                           "reference_tol": 1e-6, "test_subset": 16,
                                           "repeats": 1, "ratio_tolerances": [1e-3, 1e-5]})
    study = {"json_path": tmp_path / "nfe_study.json", "csv_path": tmp_path / "sweep.csv"}
    m = nfe_study.run(cfg, load_model(out / "models/odenet-s0.pt"),
                      out / "metrics/odenet-s0_log.csv", root, **study)
    sweep = m["sweep"]
    assert [s["tol"] for s in sweep] == [1e-4, 1e-3, 1e-2, 1e-1]
    nfe = [s["nfe_forward"] for s in sweep]
    assert nfe == sorted(nfe, reverse=True) and nfe[0] > nfe[-1]  # looser tol, fewer NFE
    errors = [s["error"] for s in sweep]
    # the error tracks the tolerance (the global error of z(t1) is a few x the local tol)
    assert errors[0] < errors[1] < errors[2] < 0.1 and errors[0] < 1e-2
    for key in ("nfe_backward_over_forward_mean", "nfe_forward_slope_per_epoch"):
        assert math.isfinite(m[key]), key
    assert m["time_vs_nfe_s"]["ms_per_nfe"] > 0 and math.isfinite(m["time_vs_nfe_s"]["r2"])
    assert m["nfe_backward_over_forward_mean"] > 0
    # every solver family: its own sweep against the same reference, and NFE-B / NFE-F
    assert list(m["by_method"]) == ["dopri5", "adams", "vode_adams"]
    for method, part in m["by_method"].items():
        assert [r["tol"] for r in part["sweep"]] == [1e-4, 1e-3, 1e-2, 1e-1], method
        assert part["sweep"][0]["error"] < 1e-2, (method, part["sweep"])
        ratios = part["backward_over_forward"]
        assert [r["tol"] for r in ratios] == [1e-3, 1e-5], method
        assert all(r["nfe_backward"] > 0 and r["ratio"] > 0 for r in ratios), (method, ratios)
        for r in ratios:  # the forward counter also holding the previous backward pass
            assert r["ratio_as_counted"] == pytest.approx(
                r["nfe_backward"] / (r["nfe_forward"] + r["nfe_backward"]))
    csv = (tmp_path / "sweep.csv").read_text().splitlines()
    assert csv[0].startswith("method,tol,") and len(csv) == 1 + 3 * 4
    # the figure stage draws Figure 3 from those files alone
    mem = parse(mnist_memory.MnistMemoryConfig, {"batch_size": 2, "steps": [2, 4]})
    mnist_memory.run(mem, _cfg().models["odenet"], json_path=tmp_path / "memory.json",
                     csv_path=tmp_path / "memory.csv")
    (out / "metrics" / "odenet-s0.json").write_text(json.dumps(
        {"steps_per_epoch": 4, "test_error": 50.0}))
    (out / "metrics" / "odenet-s0_curve.csv").write_text(
        "step,epoch,test_error\n2,0.5,60.0\n4,1.0,50.0\n")
    files = figs.draw_all(out / "metrics", {"ODE-Net": ["odenet-s0"]}, "odenet-s0",
                          tmp_path / "figs", memory=tmp_path / "memory.json",
                          study=tmp_path / "nfe_study.json", paper={"ODE-Net": 0.42},
                          memory_setup=(mem.batch_size, mem.method))
    assert sorted(f.name for f in files) == sorted(
        ["odenet-s0_training.png", "learning_curve.png", "memory_vs_nfe.png", *figs.FIG3])
    for f in files:
        assert f.stat().st_size > 1000, f
    resnet_out = tmp_path / "resnet"
    _train("resnet", _cfg(), root, resnet_out)
    with pytest.raises(ConfigError, match=r"resnet-s0 is a resnet .* needs an ODE-Net/RK"):
        nfe_study.run(cfg, load_model(resnet_out / "models/resnet-s0.pt"),
                      resnet_out / "metrics/resnet-s0_log.csv", root, **study)


def test_training_stats_count_the_forward_nfe_as_the_original_may_have():
    """Fig. 3c's counting hypothesis: a forward counter not reset after the backward
    pass adds the previous NFE-B, so NFE-B = NFE-F reads as about 1/2 (the
    third-party counts: 13 logged forward and 6 backward at tolerance 1)."""
    log = {"nfe_forward": np.array([6.0, 6.0, 7.0, 6.0]),
           "nfe_backward": np.array([6.0, 6.0, 6.0, 7.0]),
           "epoch": np.array([1, 1, 2, 2])}
    st = nfe_study.training_stats(log)
    assert st["nfe_backward_over_forward_mean"] == pytest.approx((1 + 1 + 6 / 7 + 7 / 6) / 4)
    # counted forward: 6, 6 + 6, 7 + 6, 6 + 6 (the first has no backward pass before it)
    assert st["nfe_backward_over_forward_as_counted_mean"] == pytest.approx(
        (6 / 6 + 6 / 12 + 6 / 13 + 7 / 12) / 4)


def test_saved_model_reproduces_its_evaluation_exactly(odenet_run, root):
    """evaluate_mnist scores the model file: twice the same numbers, and the same as the
    model that training returned (the file holds every weight and buffer)."""
    out, m = odenet_run
    saved = load_model(out / "models/odenet-s0.pt")
    again = evaluate_saved(saved, _cfg(), data_root=root)
    # the memory step runs on a copy: the loaded model scores the same again
    assert evaluate_saved(saved, _cfg(), data_root=root)["test_error"] == m["test_error"]
    for key in ("test_error", "test_nfe_forward", "peak_memory_mb"):
        assert again[key] == m[key], key


def test_progress_bar_and_mlflow_name_the_dvc_stage(root, tmp_path, monkeypatch):
    """The progress bar names the run as DVC does (train_mnist@odenet-0; it said
    train_mnist@odenet-s0, the file stem, before runs.py named both)."""
    import neuralode_repro.experiments.mnist as experiment

    class Stop(Exception):
        pass

    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["desc"])
        raise Stop

    monkeypatch.setattr(experiment, "fit", spy)
    with pytest.raises(Stop):
        train("odenet", _cfg(), seed=0, data_root=root, tracker=_tracker(),
              checkpoint_dir=tmp_path / "ckpt", **_paths(tmp_path, "odenet-s0"))
    assert seen == ["train_mnist@odenet-0"]
