"""A real `dvc repro` of the tiny profile in a temporary copy of the repository."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests._repo import repo_copy


def _run(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True
         ) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({out.returncode}):\n"
                             f"{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out


def _stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """The committed + untracked (not ignored) files, as a fresh git repo, tiny profile."""
    dst = tmp_path_factory.mktemp("pipeline") / "repo"

    def tiny(dst: Path, env: dict[str, str]) -> None:
        env["NEURALODE_REPRO_ID"] = "pytest-tiny"
        _run([sys.executable, "-m", "neuralode.profile", "apply", "tiny"], dst, env)

    env = repo_copy(dst, tiny)
    first = _run(["dvc", "repro"], dst, env)
    return dst, env, first.stdout + first.stderr


def test_stages_ran_in_order(repo):
    _, _, out = repo
    ran = _stages_run(out)
    assert ran[0] == "generate_data" and ran[-1] == "report"
    assert {"train_toy@linear", "train_toy@nonlinear", "train_latent@latent_ode-30",
            "train_latent@rnn-100", "train_cnf_ml@two_moons-cnf", "train_cnf_capacity@nf-2",
            "cnf_capacity_plot"} <= set(ran)
    assert ran.index("train_cnf_capacity@cnf-2") < ran.index("cnf_capacity_plot")
    assert {"download_mnist", "train_mnist@odenet-0", "train_mnist@rknet-0",
            "train_mnist@resnet-0", "train_mnist@mlp-0", "mnist_memory", "nfe_study"} <= set(ran)
    assert ran.index("train_mnist@odenet-0") < ran.index("nfe_study")


def test_metrics_and_figures_are_finite(repo):
    dst, _, _ = repo
    for name in ("linear", "nonlinear"):
        metrics = json.loads((dst / "metrics/toy" / f"{name}.json").read_text())
        for key in ("traj_mse", "extrap_mse", "final_loss", "nfe_forward_mean"):
            assert math.isfinite(metrics[key]), (name, key)
        assert metrics["nfe_backward_mean"] > 0  # adjoint used
        figs = dst / "reports/figures/toy" / name
        for fig in ("observations.png", "trajectory.png", "vector_field.png", "training.gif"):
            assert (figs / fig).stat().st_size > 1000
        rows = (dst / "metrics/toy" / f"{name}_loss.csv").read_text().splitlines()
        assert rows[0].startswith("step,loss") and len(rows) == 11
    assert math.isfinite(json.loads((dst / "metrics/toy/linear.json").read_text())
                         ["frobenius_error"])
    for model in ("latent_ode", "rnn"):
        m = json.loads((dst / f"metrics/latent/{model}_n30.json").read_text())
        assert math.isfinite(m["pred_rmse"]) and math.isfinite(m["recon_rmse"])
    assert (dst / "reports/figures/latent/latent_ode_n30/latent_projection.png").exists()
    ml = json.loads((dst / "metrics/cnf/ml/two_moons_cnf.json").read_text())
    assert math.isfinite(ml["test_nll"])
    for model in ("odenet", "rknet", "resnet", "mlp"):
        m = json.loads((dst / f"metrics/mnist/{model}-s0.json").read_text())
        assert 0 <= m["test_error"] <= 100 and m["n_params"] > 0
        assert (m["nfe_backward_mean"] > 0) == (model == "odenet")
    assert (dst / "reports/figures/mnist/fig3a_nfe_vs_error.png").exists()
    mem = json.loads((dst / "metrics/mnist/memory.json").read_text())
    assert mem["rknet_mb"][-1] > mem["rknet_mb"][0]
    cap = json.loads((dst / "metrics/cnf/capacity.json").read_text())
    assert cap["widths"] == [2] and math.isfinite(cap["kl_cnf"]["2"])


def test_report_written(repo):
    dst, env, _ = repo
    report = (dst / "reports/report.md").read_text()
    assert "Profile **tiny**" in report and "| linear |" in report
    assert "| Latent ODE | 30 | 0.1642 |" in report and "not comparable at this profile" in report
    assert "| two_moons |" in report and "| ODE-Net | 0.42% |" in report
    assert "Figure 3b" in report
    html = (dst / "reports/report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html
    shown = _run(["dvc", "metrics", "show"], dst, env).stdout
    assert "metrics/toy/linear.json" in shown and "frobenius_error" in shown


def test_mlflow_run_per_stage(repo):
    import mlflow

    dst, _, _ = repo
    mlflow.set_tracking_uri(f"sqlite:///{dst / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["neural-ode-reproduction"],
                              filter_string="tags.reproduction = 'pytest-tiny'")
    by_stage = {r["tags.mlflow.runName"]: r for _, r in runs.iterrows()}
    assert {"generate_data", "train_toy@linear", "train_toy@nonlinear"} <= set(by_stage)
    lin = by_stage["train_toy@linear"]
    assert lin["status"] == "FINISHED"
    assert lin["params.steps"] == "10" and lin["params.optim.lr"] == "0.02"
    assert math.isfinite(lin["metrics.frobenius_error"])
    assert lin["tags.profile"] == "tiny" and lin["tags.seed"] == "0"
    client = mlflow.MlflowClient()
    history = client.get_metric_history(lin["run_id"], "loss")
    assert [m.step for m in history] == list(range(1, 11))
    artifacts = {a.path for a in client.list_artifacts(lin["run_id"])}
    assert {"figures", "model", "linear.json"} <= artifacts


def test_second_repro_runs_nothing(repo):
    dst, env, _ = repo
    out = _run(["dvc", "repro"], dst, env)
    assert _stages_run(out.stdout) == []


def test_param_change_reruns_only_dependent_stage(repo):
    dst, env, _ = repo
    params = dst / "params.yaml"
    data = yaml.safe_load(params.read_text())
    data["train_toy"]["nonlinear"]["gif_frames"] = 3
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    out = _run(["dvc", "repro"], dst, env)
    # the changed stage and what reads its outputs; not train_toy@linear
    assert _stages_run(out.stdout) == ["train_toy@nonlinear", "report"]
    status = _run(["dvc", "status"], dst, env)
    assert "up to date" in status.stdout


def test_foreach_entry_without_data_fails_naming_the_key(repo):
    """A train_toy entry with no toy system used to fail inside DVC on a missing .npz;
    now its stage runs (it depends on the data/toy folder) and names the key."""
    dst, env, _ = repo
    params = dst / "params.yaml"
    before = params.read_text()
    data = yaml.safe_load(before)
    data["train_toy"]["cubic"] = dict(data["train_toy"]["nonlinear"])
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        out = _run(["dvc", "repro", "train_toy@cubic"], dst, env, check=False)
    finally:
        params.write_text(before)
    assert out.returncode != 0
    assert ("error: train_toy.cubic: no toy system 'cubic' in generate_data.toy.systems "
            "(generated: linear, nonlinear)") in out.stderr, out.stderr[-2000:]
