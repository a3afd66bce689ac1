"""runs.py, the one name of each run, against dvc.yaml as DVC itself resolves it: every
run the params name is a pair of stages whose files are exactly the run's paths."""

from pathlib import Path

import pytest

from neuralode_repro import runs
from neuralode_repro.config import load_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stages() -> dict:
    """name -> (outs, metrics and plots paths; deps paths; cmd), as DVC resolves them."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return {s.name: ({str(o.def_path) for o in s.outs}, {str(d.def_path) for d in s.deps},
                         s.cmd if isinstance(s.cmd, str) else " ".join(s.cmd))
                for s in repo.index.stages}


def _params_runs() -> list[runs.Run]:
    p = load_params(ROOT / "params.yaml")
    seeds = {k: p[k]["seeds"] for k in ("train_toy", "train_mnist", "train_latent",
                                        "train_cnf")}
    return [*runs.grid("toy", name=p["train_toy"]["systems"], seed=seeds["train_toy"]),
            *runs.grid("mnist", model=p["train_mnist"]["models"], seed=seeds["train_mnist"]),
            *runs.grid("latent", model=p["train_latent"]["models"],
                       n_obs=p["generate_data"]["spirals"]["n_obs"], seed=seeds["train_latent"]),
            *runs.grid("cnf_ml", target=p["train_cnf"]["ml"]["targets"], model=["cnf", "nf"],
                       seed=seeds["train_cnf"]),
            *runs.grid("cnf_capacity", model=["cnf", "nf"],
                       width=p["train_cnf"]["capacity"]["widths"], seed=seeds["train_cnf"])]


def _files(run: runs.Run, kinds: tuple[str, ...]) -> set[str]:
    return {str(run.path(k)) for k in kinds if run.has(k)}


def test_the_params_runs_are_dvc_yamls_matrix_stages(stages):
    ours = {r.stage(step) for r in _params_runs() for step in ("train", "evaluate")}
    theirs = {n for n in stages if n.split("@")[0] in
              {f"{s}_{f}" for s in ("train", "evaluate") for f in runs.FAMILIES}}
    assert ours == theirs


@pytest.mark.parametrize("run", _params_runs(), ids=lambda r: r.stage())
def test_dvc_yaml_declares_exactly_the_runs_paths(run, stages):
    outs, deps, cmd = stages[run.stage()]
    written = _files(run, runs.TRAIN_FILES)
    assert outs == written
    assert all(path in cmd for path in written)  # the stage writes where DVC looks
    outs, deps, cmd = stages[run.stage("evaluate")]
    assert outs == _files(run, ("metrics", "budget", "curve", "predictions"))
    read = written - {str(run.path('log'))} if run.family.name != "cnf_ml" else written
    assert read <= deps
    assert all(path in cmd for path in outs | read)


def test_names_of_one_run():
    r = runs.run("latent", model="latent_ode", n_obs=30, seed=2)
    assert (r.key, r.stem, r.stage(), r.stage("evaluate")) == (
        "latent_ode-30-2", "latent_ode_n30-s2", "train_latent@latent_ode-30-2",
        "evaluate_latent@latent_ode-30-2")
    assert r.path("budget", "m") == Path("m/latent/latent_ode_n30-s2_budget.csv")
    assert r.file("snapshots") == "latent_ode_n30-s2_snapshots.pt"
    assert (r.writer("summary"), r.writer("budget")) == (r.stage(), r.stage("evaluate"))
    assert runs.cnf("capacity", "nf", 1, width=8).stage() == "train_cnf_capacity@nf-8-1"
    assert runs.cnf("ml", "cnf", 0, target="two_moons").path("metrics") == Path(
        "metrics/cnf/ml/two_moons_cnf-s0.json")
    assert runs.run("toy", name="linear", seed=0).path("snapshots").suffix == ".npz"


def test_identity_keys_in_order():
    keys = runs.cnf("ml", "nf", 3, target="two_moons").identity().keys
    assert list(keys.items()) == [("experiment", "cnf"), ("model", "nf"), ("task", "ml"),
                                  ("target", "two_moons"), ("seed", 3)]
    ident = runs.run("toy", name="linear", seed=0).identity("data/toy/linear.npz")
    assert ident.stage == "train_toy@linear-0"
    assert list(ident.keys) == ["experiment", "model", "seed", "data"]


def test_grid_is_dvcs_matrix_order():
    got = [r.key for r in runs.grid("mnist", model=["mlp", "odenet"], seed=[0, 1])]
    assert got == ["mlp-0", "mlp-1", "odenet-0", "odenet-1"]


@pytest.mark.parametrize(("call", "match"), [
    (lambda: runs.run("mnist", model="mlp"), r"a mnist run is named by model, seed; "
                                             r"got model"),
    (lambda: runs.grid("toy", name=["linear"]), r"a toy grid takes name, seed; got name"),
    (lambda: runs.cnf("capacity", "nf", 0, width=2).path("snapshots"),
     r"the runs of cnf_capacity write no 'snapshots' file; they write weights, log, "
     r"summary, metrics"),
    (lambda: runs.run("mnist", model="mlp", seed=0).path("budget"),
     r"the runs of mnist write no 'budget' file; they write weights, snapshots, log, "
     r"summary, metrics, curve"),
])
def test_bad_names_say_what_is_allowed(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()
