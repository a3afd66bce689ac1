"""Run a stage in-process, through the same runner as its command line: a subprocess
pays ~10 s of imports per case, this pays them once per test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

import yaml

from neuralode_repro import runner
from neuralode_repro.cmdguard import stage_command

ROOT = Path(__file__).resolve().parents[1]
# as `python stages/run.py <name>` does: the stages' folder importable
sys.path.insert(0, str(ROOT / "stages"))


def stage_module(name: str) -> ModuleType:
    """``stages/<name>.py`` as a module (its ``prepare`` and ``parser``), loaded as
    ``stages/run.py`` loads it."""
    import run  # stages/run.py, importable: its folder is on sys.path above

    return run.load(name)


def run_stage(name: str, argv: list[str], params: dict | None, cwd: Path, capsys
              ) -> tuple[int, list[str]]:
    """``python stages/<name>.py argv`` in ``cwd`` (writing ``params`` to its
    params.yaml unless None): (exit status, the lines it wrote to stderr)."""
    if params is not None:
        (cwd / "params.yaml").write_text(yaml.safe_dump(params))
    module = stage_module(name)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        runner.main(module.prepare, module.parser(), argv)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        os.chdir(old)
    return code, capsys.readouterr().err.strip().splitlines()


def stage_argv(stage: str, **subs: object) -> list[str]:
    """The arguments dvc.yaml's ``cmd`` of ``stage`` passes to its script, with the
    foreach ``key`` / matrix ``item.<name>`` / params ``${a.b}`` values in ``subs``
    (dotted names as ``a__b``): tests run a stage as DVC would, output paths included."""
    doc = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    cmd = stage_command(doc.get("do", doc)["cmd"])  # the guard, if any, comes first
    for name, value in subs.items():
        cmd = cmd.replace(f"${{{name.replace('__', '.')}}}", str(value))
        cmd = cmd.replace(f"${{item.{name}}}", str(value))
    if "${" in cmd:
        raise ValueError(f"{stage}: unexpanded variables left in {cmd!r}; pass them")
    words = cmd.split()
    return words[3:]  # after "python stages/run.py <name>"
