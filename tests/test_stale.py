"""Stale stages: a matrix entry dropped from params leaves its dvc.lock entry and its
git-tracked outputs behind; `python -m neuralode_repro.stale --prune` removes exactly
those, in a real DVC repository (stages that only write files: a few seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

BIN = Path(sys.executable).parent
DVC_YAML = """\
stages:
  fit:
    foreach: ${widths}
    do:
      cmd: python -c "open('metrics/w${item}.json', 'w').write('{}')"
      outs:
        - metrics/w${item}.json:
            cache: false
  keep:
    cmd: python -c "open('metrics/keep.json', 'w').write('{}')"
    outs:
      - metrics/keep.json:
          cache: false
"""


def _sh(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{cmd}: {out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out.stdout


def test_prune_removes_only_the_dropped_stages_entries_and_outputs(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "params.yaml").write_text("widths: [2, 8, 32]\n")
    _sh(["git", "init", "-q"], tmp_path)
    _sh(["dvc", "init", "-q"], tmp_path)
    _sh(["dvc", "repro"], tmp_path)
    (tmp_path / "params.yaml").write_text("widths: [2, 8]\n")
    before = (tmp_path / "dvc.lock").read_text()
    cmd = [sys.executable, "-m", "neuralode_repro.stale"]
    assert "found (`--prune` removes them): 1 dvc.lock entry of stages no longer in the " \
           "pipeline (fit@32) and 1 of their outputs\n  metrics/w32.json" in _sh(cmd, tmp_path)
    assert (tmp_path / "dvc.lock").read_text() == before  # listing changes nothing
    _sh([*cmd, "--prune"], tmp_path)
    assert sorted(p.name for p in (tmp_path / "metrics").iterdir()) == [
        "keep.json", "w2.json", "w8.json"]
    lock = yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]
    assert set(lock) == {"fit@2", "fit@8", "keep"}
    assert "Running stage" not in _sh(["dvc", "repro"], tmp_path)  # the rest is up to date
    assert _sh(cmd, tmp_path).startswith("no stale stages")


def test_prune_refuses_without_the_pipeline_it_compares_against(tmp_path, monkeypatch, capsys):
    """A dvc.lock beside no dvc.yaml would make every entry look stale: --prune would
    delete every output it records."""
    from neuralode_repro import stale

    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  fit:\n    cmd: x\n    outs:\n"
                                       "    - path: metrics/keep.json\n")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/keep.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=r"error: .*dvc\.yaml not found beside .*dvc\.lock; "
                       r"run this from the repository root"):
        stale.main(["--prune"])
    assert (tmp_path / "metrics/keep.json").is_file()
    (tmp_path / "dvc.lock").unlink()
    stale.main([])
    assert "no dvc.lock here" in capsys.readouterr().out
