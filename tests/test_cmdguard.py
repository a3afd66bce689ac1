"""No params value reaches a shell through dvc.yaml (issue 32, defect 6): the command
guard's rules, dvc.yaml's shape (every interpolating cmd starts with the guard), and a
real `dvc repro` / `dvc exp run -S` with a params name that is shell code."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from neuralode_repro import cmdguard
from neuralode_repro.config import ConfigError
from neuralode_repro.params import main as params_main
from tests._repo import ROOT, repo_copy

GUARD = "python stages/run.py _guard"
EVIL = "x;touch${IFS}%s;echo"


def _dvc() -> dict:
    return cmdguard.read_dvc_yaml(ROOT / "dvc.yaml")


def _params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_the_committed_pipeline_passes_and_checks_every_interpolated_value():
    assert cmdguard.check(_dvc(), _params()) > 50  # names, seeds, widths ... of every stage


@pytest.mark.parametrize("name", list(_dvc()["stages"]))
def test_every_interpolating_cmd_runs_the_guard_first(name):
    stage = _dvc()["stages"][name]
    cmds = cmdguard.stage_commands(stage.get("do", stage)["cmd"])
    if any("${" in c for c in cmds):
        assert cmds[0] == GUARD and "${" not in cmds[0], cmds


@pytest.mark.parametrize("edit,match", [
    (lambda p: p["train_toy"]["systems"].update({"a;b": {}}),
     r"'a;b' \(a key of train_toy.systems\) is not a plain name: dvc.yaml's stage "
     r"train_toy puts it into a shell command as \$\{item.name\}"),
    (lambda p: p["train_toy"].update(seeds=[0, "1 && rm -rf ~"]),
     r"'1 && rm -rf ~' \(train_toy.seeds\[1\]\)"),
    (lambda p: p["train_mnist"]["models"].update({"$(id)": {}}), r"'\$\(id\)'"),
    (lambda p: p["nfe_study"].update(model="odenet'\necho hi"), r"nfe_study.model"),
    (lambda p: p["train_cnf"]["capacity"].update(widths=["`id`"]), r"'`id`'"),
    (lambda p: p["train_toy"]["systems"].update({"-rf": {}}), r"'-rf'"),
])
def test_unsafe_values_are_refused_with_their_origin(edit, match):
    params = _params()
    edit(params)
    with pytest.raises(ConfigError, match=match):
        cmdguard.check(_dvc(), params)


def test_foreach_literals_and_unresolvable_expressions():
    dvc = {"stages": {
        "a": {"foreach": {"ok": {"lr": 0.1}, "b c": {"lr": 1}}, "do": {"cmd": "x ${key}"}},
        "b": {"foreach": ["${train.items}"], "do": {"cmd": ["g", "x ${item.lr}"]}},
        "c": {"cmd": "x ${vars_file.value}"}}}
    with pytest.raises(ConfigError, match=r"'b c' \(a key of a literal in dvc.yaml\)"):
        cmdguard.check({"stages": {"a": dvc["stages"]["a"]}}, {})
    params = {"train": {"items": {"lr": "1;2"}}}
    with pytest.raises(ConfigError, match=r"'1;2'"):
        cmdguard.check({"stages": {"b": dvc["stages"]["b"]}}, params)
    with pytest.raises(ConfigError, match=r"dvc.yaml:c: cannot resolve \$\{vars_file.value\}"):
        cmdguard.check({"stages": {"c": dvc["stages"]["c"]}}, params)


def test_guard_and_params_check_exit_1_with_one_line(tmp_path, monkeypatch, capsys):
    params = _params()
    params["train_toy"]["seeds"] = ["0;id"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    for main, argv in ((cmdguard.main, []), (params_main, ["check"])):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 1
        (line,) = capsys.readouterr().err.strip().splitlines()
        # the guard names the value; params check's schema may refuse it first
        assert re.match(r"error: params.yaml.*'0;id'", line), line


def _evil_systems(marker: Path) -> dict:
    return {EVIL % marker: {"steps": 2, "restarts": 1, "gif_frames": 2}}


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_plain_dvc_repro_and_exp_run_never_reach_the_shell(tmp_path):
    """The issue's attack, as DVC runs it: a train_toy.systems key that is shell code in
    params.yaml (`dvc repro`), and a seed that is shell code set by `dvc exp run -S`.
    Without the guard, `touch` runs in the stage's shell and creates the marker."""
    marker = tmp_path / "pwned"
    dst = tmp_path / "repo"

    def prepare(root: Path, env: dict) -> None:
        params = yaml.safe_load((root / "params.yaml").read_text())
        params["train_toy"].update(seeds=[0], systems=_evil_systems(marker))
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    env = repo_copy(dst, prepare)
    # the data the toy stage reads, so DVC gets as far as the stage's command
    out = _run(["dvc", "repro", "generate_data"], dst, env)
    assert out.returncode == 0, out.stderr[-2000:]
    out = _run(["dvc", "repro", "train_toy"], dst, env)
    assert out.returncode != 0 and not marker.exists(), out.stdout[-2000:]
    assert "is not a plain name" in out.stderr + out.stdout
    # dvc exp run -S: a clean params.yaml, the name set on the command line
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["train_toy"]["systems"] = {"linear": {"steps": 2, "restarts": 1, "gif_frames": 2}}
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "commit", "-qam", "clean"], cwd=dst, env=env, check=True)
    # (Hydra's override grammar refuses ';' in a key; a quoted value passes it)
    out = _run(["dvc", "exp", "run", "-S", f"train_toy.seeds=['0;touch {marker};echo']",
                "train_toy"], dst, env)
    assert out.returncode != 0 and not marker.exists(), out.stdout[-2000:]
    assert "is not a plain name" in out.stderr + out.stdout, (out.stdout + out.stderr)[-2000:]
