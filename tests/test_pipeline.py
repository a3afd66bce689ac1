"""A real run of the tiny profile in a temporary copy of the repository, as `make repro
PROFILE=tiny` runs it: a DVC experiment in a temporary workspace, which leaves the
checkout alone; then `dvc exp apply` brings its results into the copy's workspace, where
the other tests read them and rerun stages."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from neuralode_repro.cmdguard import stage_command
from neuralode_repro.metrics import CONFIG_KEYS, flatten
from tests._repo import repo_copy


def _run(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True,
         timeout: float | None = 900) -> subprocess.CompletedProcess:
    """``cmd`` in ``cwd``. The profile's run passes ``timeout=None``: its time grows with
    the machine's load, and CI's own limit bounds it."""
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({out.returncode}):\n"
                             f"{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out


def _stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """The committed + untracked (not ignored) files as a fresh git repo; the tiny
    profile run as an experiment, then applied. Also returns `git status` after the run."""
    dst = tmp_path_factory.mktemp("pipeline") / "repo"
    env = repo_copy(dst)
    first = _run([sys.executable, "-m", "neuralode_repro.profile", "run", "tiny", "--exp",
                  "pytest-tiny"], dst, env, timeout=None)
    status = _run(["git", "status", "--porcelain"], dst, env).stdout
    _run(["dvc", "exp", "apply", "pytest-tiny"], dst, env)
    return dst, env, first.stdout + first.stderr, status


def test_profile_run_leaves_the_checkout_alone_and_exports_its_results(repo):
    dst, env, out, status = repo
    assert status == ""  # params.yaml, dvc.lock, metrics/ and reports/ untouched
    assert "MLflow runs tagged reproduction=pytest-tiny" in out
    # no successful run prints ERROR (torch.profiler's kineto did, on a CPU-only machine)
    assert not [line for line in out.splitlines() if "ERROR" in line], out[-3000:]
    runs = dst / "runs/pytest-tiny"
    assert "Profile **tiny**" in (runs / "reports/report.md").read_text()
    assert yaml.safe_load((runs / "params.yaml").read_text())["common"]["profile"] == "tiny"
    lock = yaml.safe_load((runs / "dvc.lock").read_text())["stages"]
    assert "train_toy@linear-0" in lock and (runs / "metrics/toy/linear-s0.json").is_file()
    assert _run(["dvc", "exp", "list", "--name-only"], dst, env).stdout.split() == [
        "pytest-tiny"]


def test_stages_ran_in_order(repo):
    _, _, out, _ = repo
    ran = _stages_run(out)
    assert ran[0] == "generate_data" and ran[-1] == "report"
    # every experiment: train -> evaluate -> figures -> report
    for train, evaluate, figures in (
            ("train_toy@linear-0", "evaluate_toy@linear-0", "figures_toy"),
            ("train_mnist@odenet-0", "evaluate_mnist@odenet-0", "figures_mnist"),
            ("train_mnist@odenet-0", "nfe_study", "figures_mnist"),
            ("train_latent@latent_ode-30-0", "evaluate_latent@latent_ode-30-0", "figures_latent"),
            ("train_cnf_ml@two_moons-cnf-0", "evaluate_cnf_ml@two_moons-cnf-0", "figures_cnf"),
            ("train_cnf_capacity@nf-2-0", "evaluate_cnf_capacity@nf-2-0", "figures_cnf")):
        assert ran.index(train) < ran.index(evaluate) < ran.index(figures), (train, evaluate)
    assert {"download_mnist", "mnist_memory", "train_mnist@rknet-0", "train_mnist@resnet-0",
            "train_mnist@mlp-0"} <= set(ran)


def test_metrics_and_figures_are_finite(repo):
    dst, _, _, _ = repo
    for name in ("linear", "nonlinear"):
        metrics = json.loads((dst / "metrics/toy" / f"{name}-s0.json").read_text())
        for key in ("traj_mse", "extrap_mse", "final_loss", "nfe_forward_mean"):
            assert math.isfinite(metrics[key]), (name, key)
        assert metrics["nfe_backward_mean"] > 0  # adjoint used
        figs = dst / "reports/figures/toy" / name
        for fig in ("observations.png", "trajectory.png", "vector_field.png", "training.gif"):
            assert (figs / fig).stat().st_size > 1000
        rows = (dst / "metrics/toy" / f"{name}-s0_log.csv").read_text().splitlines()
        assert rows[0].startswith("step,loss") and len(rows) == 11
        assert (dst / "data/models/toy" / f"{name}-s0.pt").is_file()
    assert math.isfinite(json.loads((dst / "metrics/toy/linear-s0.json").read_text())
                         ["frobenius_error"])
    for model in ("latent_ode", "rnn"):
        m = json.loads((dst / f"metrics/latent/{model}_n30-s0.json").read_text())
        assert math.isfinite(m["pred_rmse"]) and math.isfinite(m["recon_rmse"])
    assert (dst / "reports/figures/latent/latent_ode_n30/latent_projection.png").exists()
    budget = (dst / "metrics/latent/latent_ode_n30-s0_budget.csv").read_text().splitlines()
    assert budget[0] == "step,train_time_s,pred_rmse,recon_rmse" and len(budget) == 1 + 2
    assert (dst / "reports/figures/latent/rmse_budget.png").stat().st_size > 1000
    ml = json.loads((dst / "metrics/cnf/ml/two_moons_cnf-s0.json").read_text())
    assert math.isfinite(ml["test_nll"])
    budget = (dst / "metrics/cnf/ml/two_moons_cnf-s0_budget.csv").read_text().splitlines()
    assert budget[0] == "step,train_time_s,train_flops,test_nll" and len(budget) == 1 + 2
    assert 0 < float(budget[1].split(",")[2]) < float(budget[2].split(",")[2])  # FLOPs grow
    for model in ("latent_ode", "rnn"):  # the latent ODE also at the tight solver
        m = json.loads((dst / f"metrics/latent/{model}_n30-s0.json").read_text())
        assert ("pred_rmse_tight" in m) == (model == "latent_ode")
    study = json.loads((dst / "metrics/mnist/nfe_study.json").read_text())
    assert study["tight_test_images"] == 64
    assert study["test_nfe_forward_tight"] > study["test_nfe_forward_train_solver"]
    assert (dst / "reports/figures/cnf/ml_budget.png").stat().st_size > 1000
    for model in ("odenet", "rknet", "resnet", "mlp"):
        m = json.loads((dst / f"metrics/mnist/{model}-s0.json").read_text())
        assert 0 <= m["test_error"] <= 100 and m["n_params"] > 0
        assert (m["nfe_backward_mean"] > 0) == (model == "odenet")
    assert (dst / "reports/figures/mnist/fig3a_nfe_vs_error.png").exists()
    assert (dst / "reports/figures/mnist/learning_curve.png").stat().st_size > 1000
    curve = (dst / "metrics/mnist/odenet-s0_curve.csv").read_text().splitlines()
    assert curve[0] == "step,epoch,test_error" and len(curve) == 1 + 2  # curve.points: 2
    mem = json.loads((dst / "metrics/mnist/memory.json").read_text())
    assert mem["rknet_mb"][-1] > mem["rknet_mb"][0]
    cap = json.loads((dst / "metrics/cnf/capacity.json").read_text())
    assert list(cap["kl_cnf"]) == ["2"] and math.isfinite(cap["kl_cnf"]["2"][0])


def test_report_written(repo):
    dst, env, _, _ = repo
    report = (dst / "reports/report.md").read_text()
    assert "Profile **tiny**" in report and "| linear |" in report
    assert "| Latent ODE | 30 | 0.1642 |" in report and "not converged at this profile" in report
    assert "| two_moons |" in report and "| ODE-Net | 0.42% |" in report
    assert "Figure 3b" in report
    html = (dst / "reports/report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html
    shown = _run(["dvc", "metrics", "show"], dst, env).stdout
    assert "metrics/toy/linear-s0.json" in shown and "frobenius_error" in shown
    # a training summary is an output, not a DVC metric; its evaluation's metrics file
    # repeats its results and timings, never its config (neuralode_repro.metrics)
    assert "_train.json" not in shown and "timing.train_time_s" in shown
    assert not re.search(r"\b(seed|epochs|batch_size|steps|iterations)\b", shown)
    summaries = sorted((dst / "metrics").rglob("*_train.json"))
    # toy 2, MNIST 4, latent 3 (latent_ode, rnn, rnn_notime at the tiny profile's one
    # n), CNF ml 4 and capacity 2
    assert len(summaries) == 15
    for path in summaries:
        train = json.loads(path.read_text())
        evaluation = json.loads(path.with_name(path.name.replace("_train", "")).read_text())
        assert "seed" in train and not CONFIG_KEYS & set(evaluation), path
        kept = {k: v for k, v in train.items() if k not in CONFIG_KEYS}
        assert {k: flatten(evaluation).get(k) for k in kept} == kept, path


def _runs(dst: Path) -> dict:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{dst / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["neural-ode-reproduction"],
                              filter_string="tags.reproduction = 'pytest-tiny'")
    return {r["tags.mlflow.runName"]: r for _, r in runs.iterrows()}


def test_mlflow_run_per_stage(repo):
    import mlflow

    dst, _, _, _ = repo
    by_stage = _runs(dst)
    assert {"generate_data", "train_toy@linear-0", "evaluate_toy@linear-0", "figures_toy",
            "report"} <= set(by_stage)
    lin = by_stage["train_toy@linear-0"]
    assert lin["status"] == "FINISHED"
    # the resolved config, defaults included (restarts, solver.max_num_steps: not in YAML)
    assert lin["params.steps"] == "10" and lin["params.optim.lr"] == "0.02"
    assert lin["params.solver.max_num_steps"] == "10000"
    assert lin["tags.profile"] == "tiny" and lin["tags.seed"] == "0"
    assert math.isfinite(by_stage["evaluate_toy@linear-0"]["metrics.frobenius_error"])
    client = mlflow.MlflowClient()
    history = client.get_metric_history(lin["run_id"], "loss")
    assert [m.step for m in history] == list(range(1, 11))
    artifacts = {a.path for a in client.list_artifacts(lin["run_id"])}
    assert {"linear-s0_log.csv", "linear-s0_train.json"} <= artifacts  # the model: a logged model
    exp = client.get_experiment_by_name("neural-ode-reproduction")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"


def test_no_config_value_is_logged_as_a_metric(repo):
    dst, _, _, _ = repo
    for stage, run in _runs(dst).items():
        params = {k.removeprefix("params.").rsplit(".", 1)[-1] for k, v in run.items()
                  if k.startswith("params.") and isinstance(v, str)}
        metrics = {k.removeprefix("metrics.") for k, v in run.items()
                   if k.startswith("metrics.") and v == v}  # v == v: not NaN
        # "lr" is the schedule's value at each step (a curve), not optim.lr's setting
        clash = (metrics - {"lr"}) & (params | {"seed"})
        assert not clash, (stage, clash)


def test_evaluation_runs_link_to_their_training_run_and_model(repo):
    """An evaluation run carries its training run's id as a tag; the training run's
    logged MLflow Model loads back and reproduces the evaluation's metrics exactly."""
    import mlflow
    import mlflow.pytorch

    from neuralode_repro.config import parse
    from neuralode_repro.experiments.toy import ToyTrainConfig, evaluate
    from neuralode_repro.io import load_arrays

    dst, _, _, _ = repo
    by_stage = _runs(dst)
    exp_id = mlflow.get_experiment_by_name("neural-ode-reproduction").experiment_id
    for name in ("toy@linear-0", "mnist@mlp-0", "latent@rnn-30-0", "cnf_ml@two_moons-nf-0"):
        train_id = by_stage[f"train_{name}"]["run_id"]
        linked = mlflow.search_runs(
            experiment_names=["neural-ode-reproduction"],
            filter_string=f"tags.`neuralode.train_run_id` = '{train_id}'")
        assert f"evaluate_{name}" in set(linked["tags.mlflow.runName"]), name
        assert mlflow.search_logged_models(experiment_ids=[exp_id], output_format="list",
                                           filter_string=f"source_run_id = '{train_id}'"), name
    train_id = by_stage["train_toy@linear-0"]["run_id"]
    model = mlflow.pytorch.load_model(f"runs:/{train_id}/model")
    cfg = parse(ToyTrainConfig, yaml.safe_load((dst / "params.yaml").read_text())
                ["train_toy"]["systems"]["linear"])
    got, _ = evaluate(model, cfg, load_arrays(dst / "data/toy/linear.npz"))
    written = json.loads((dst / "metrics/toy/linear-s0.json").read_text())
    assert got == {k: written[k] for k in got}


def test_saved_models_reproduce_their_evaluations_exactly(repo, tmp_path, capsys):
    """Each experiment's evaluation command (as dvc.lock ran it), run again on the
    saved model (a DVC output) with its outputs redirected, writes the same metrics:
    only timings may differ. (In-process, through the stage runner: no start-up cost.)"""
    from tests._stages import run_stage

    dst, _, _, _ = repo
    lock = yaml.safe_load((dst / "dvc.lock").read_text())["stages"]
    for stage in ("evaluate_toy@linear-0", "evaluate_mnist@odenet-0",
                  "evaluate_latent@latent_ode-30-0", "evaluate_cnf_ml@two_moons-cnf-0",
                  "evaluate_cnf_capacity@nf-2-0"):
        words = stage_command(lock[stage]["cmd"]).split()
        outs = [o["path"] for o in lock[stage]["outs"]]
        (metrics,) = [o for o in outs if o.startswith("metrics/") and o.endswith(".json")]
        for i, out in enumerate(outs):
            assert out in words, (stage, out)  # output paths come from the cmd
            words[words.index(out)] = str(tmp_path / f"{i}{Path(out).suffix}")
        # python stages/run.py <stage> <args>
        code, err = run_stage(words[2], words[3:], None, dst, capsys)
        assert code == 0, err[-10:]
        again = json.loads((tmp_path / f"{outs.index(metrics)}.json").read_text())
        before = json.loads((dst / metrics).read_text())
        for k in ("timing", "runtime"):  # the wall clock and the machine (metrics.py)
            assert k in before, (stage, k)
            before.pop(k), again.pop(k, None)
        assert again == before, stage


def test_second_repro_runs_nothing(repo):
    """Not even after Python wrote bytecode caches into the code folders the stages
    depend on (CI sets PYTHONDONTWRITEBYTECODE; a user's Python writes __pycache__/,
    which made every stage look changed against a lock recorded without one)."""
    dst, env, _, _ = repo
    for folder in ("library/neuralode", "src/neuralode_repro/report"):
        cache = dst / folder / "__pycache__"
        cache.mkdir(exist_ok=True)
        (cache / "odeint.cpython-311.pyc").write_bytes(b"bytecode")
    out = _run(["dvc", "repro"], dst, env)
    assert _stages_run(out.stdout) == []


def _edit_params(dst: Path, edit) -> str:
    """Apply ``edit`` to params.yaml; returns the text before, to restore."""
    params = dst / "params.yaml"
    before = params.read_text()
    data = yaml.safe_load(before)
    edit(data)
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    return before


def _rerun_set(dst: Path, env: dict[str, str]) -> tuple[set[str], set[str]]:
    """(stages an edit invalidates, the stages downstream of them): what `dvc repro`
    would run, without paying ~12 s of start-up per stage. ``--dry`` names the stages
    whose own deps or params changed; the DAG gives what reads their outputs."""
    dry = set(_stages_run(_run(["dvc", "repro", "--dry"], dst, env).stdout))
    edges = re.findall(r'"([^"]+)" -> "([^"]+)"', _run(["dvc", "dag", "--dot"], dst, env).stdout)
    below, todo = set(), list(dry)
    while todo:
        node = todo.pop()
        for a, b in edges:
            if a == node and b not in below:
                below.add(b)
                todo.append(b)
    return dry, below - dry


def test_figure_code_edit_reruns_only_figures_and_report(repo):
    dst, env, _, _ = repo
    style = dst / "src/neuralode_repro/figures/style.py"
    text = style.read_text()
    assert '"#d62728"' in text  # the shared style's colour of our model
    style.write_text(text.replace('"#d62728"', '"#123456"'))
    try:
        dry, below = _rerun_set(dst, env)
    finally:
        style.write_text(text)
    # the report draws its summary figure in the same style, so it reruns for itself
    assert dry == {"figures_toy", "figures_mnist", "figures_latent", "figures_cnf",
                   "report"}, dry
    assert below == set(), below


def test_evaluation_param_reruns_only_evaluation_figures_and_report(repo):
    dst, env, _, _ = repo
    before = _edit_params(dst, lambda d: d["train_mnist"].update(memory_batch=8))
    try:
        dry, below = _rerun_set(dst, env)
    finally:
        (dst / "params.yaml").write_text(before)
    assert dry == {f"evaluate_mnist@{m}-0" for m in ("odenet", "rknet", "resnet", "mlp")}, dry
    assert below == {"figures_mnist", "report"}, below


def test_model_param_reruns_that_models_train_evaluate_figures_and_report(repo):
    """For real: the edited model's stages run, in order, and nothing else."""
    dst, env, _, _ = repo
    _edit_params(dst, lambda d: d["train_toy"]["systems"]["nonlinear"].update(steps=12))
    ran = _stages_run(_run(["dvc", "repro"], dst, env).stdout)
    assert ran == ["train_toy@nonlinear-0", "evaluate_toy@nonlinear-0", "figures_toy", "report"]
    assert "up to date" in _run(["dvc", "status"], dst, env).stdout
    rows = (dst / "metrics/toy/nonlinear-s0_log.csv").read_text().splitlines()
    assert len(rows) == 1 + 12


def test_matrix_entry_without_data_fails_naming_the_key(repo):
    """A train_toy.systems entry with no toy system used to fail inside DVC on a missing .npz;
    now its stage runs (it depends on the data/toy folder) and names the key."""
    dst, env, _, _ = repo
    params = dst / "params.yaml"
    before = params.read_text()
    data = yaml.safe_load(before)
    systems = data["train_toy"]["systems"]
    systems["cubic"] = dict(systems["nonlinear"])
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        out = _run(["dvc", "repro", "train_toy@cubic-0"], dst, env, check=False)
    finally:
        params.write_text(before)
    assert out.returncode != 0
    assert ("error: train_toy.systems.cubic: no toy system 'cubic' in generate_data.toy.systems "
            "(generated: linear, nonlinear)") in out.stderr, out.stderr[-2000:]


def test_every_readme_command_runs(repo, tmp_path):
    """Last (it queues experiments and adds a remote): each ```bash block of the README
    as one script in the copy, every command as written or as its rewrite in
    tests/_readme.py. A bare origin makes `git pull` and `dvc exp push` real; after the
    push and pull, `dvc repro` reruns nothing, and no command leaves an untracked file."""
    from tests._readme import scripts

    dst, env, _, _ = repo
    origin = tmp_path / "origin.git"
    _run(["git", "init", "-q", "--bare", str(origin)], dst, env)
    _run(["git", "remote", "add", "origin", str(origin)], dst, env)
    _run(["git", "push", "-q", "-u", "origin", "HEAD"], dst, env)
    env = {**env, "SCRATCH": str(tmp_path)}
    # as in a fresh clone: the default params (the fixture applied pytest-tiny; the
    # README's own `dvc exp apply` brings it back, with its outputs)
    _run(["git", "checkout", "--", "params.yaml"], dst, env)
    untracked = _untracked(dst, env)  # the applied run's dvc.lock, metrics/, reports/
    for script in scripts(dst / "README.md"):
        out = _run(["bash", "-c", script], dst, env)
    assert "pytest-tiny" in _run(["git", "ls-remote", str(origin)], dst, env).stdout
    assert _stages_run(out.stdout) == []  # the last block's `dvc repro`
    assert _untracked(dst, env) == untracked  # dvc_plots/, runs/: ignored


def _untracked(dst: Path, env: dict[str, str]) -> list[str]:
    status = _run(["git", "status", "--porcelain"], dst, env).stdout.splitlines()
    return [s for s in status if s.startswith("??")]
