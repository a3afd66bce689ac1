"""benchmarks/pipeline.py without a real pipeline run: `make` is a stub on PATH that
logs how it was called and exits with $FAKE_MAKE_RC."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pipeline() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_pipeline",
                                                  ROOT / "benchmarks" / "pipeline.py")
    module = importlib.util.module_from_spec(spec)
    # as `python benchmarks/pipeline.py` runs it: its folder first on sys.path (benchutil)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed repo with profiles/tiny.yaml and ../shared/mnist, an uncommitted
    edit, and the `make` stub first on PATH."""
    root = tmp_path / "work" / "proj"
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "tiny.yaml").write_text("common: {}\n")
    (root / "notes.txt").write_text("committed\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    (root / "notes.txt").write_text("uncommitted\n")
    (tmp_path / "work" / "shared" / "mnist").mkdir(parents=True)
    stub = tmp_path / "bin" / "make"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\n{ echo "$*"; echo "$MNIST_MIRROR"; echo "py=$PYTHONPATH"; '
                    '} > make.log\nexit "${FAKE_MAKE_RC:-0}"\n')
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{stub.parent}:{os.environ['PATH']}")
    monkeypatch.delenv("MNIST_MIRROR", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/elsewhere/src")
    return root


def _main(pipeline: ModuleType, repo: Path, tmp_path: Path, *extra: str) -> int:
    return pipeline.main(["--repo", str(repo), "--record", str(tmp_path / "rec.json"),
                          "--workdir", str(tmp_path / "runs"), *extra])


def test_a_run_is_recorded_with_its_time_and_the_clone_kept(pipeline, repo, tmp_path,
                                                            capsys):
    assert _main(pipeline, repo, tmp_path, "--profile", "tiny", "--keep") == 0
    entry = json.loads((tmp_path / "rec.json").read_text())["tiny"]
    assert entry["status"] == "ok" and entry["exit_code"] == 0 and entry["wall_s"] >= 0
    assert entry["commit"] == _git(repo, "rev-parse", "HEAD")
    assert entry["command"] == "make repro PROFILE=tiny" and entry["date"].endswith("Z")
    assert len(entry["load_avg_start"]) == 3 and entry["nproc"] >= 1 and entry["machine"]
    out = capsys.readouterr().out
    assert "uncommitted changes are not measured" in out and "the clone is kept" in out
    (clone,) = (tmp_path / "runs").glob("neuralode-pipeline-*/proj")
    assert (clone / "notes.txt").read_text() == "committed\n"  # HEAD, not the work tree
    args, mirror, py = (clone / "make.log").read_text().splitlines()
    assert args == "repro PROFILE=tiny" and py == "py="
    assert mirror == str(clone.parent / "shared" / "mnist")  # the copy beside the clone


def test_a_failed_run_is_recorded_as_failed_without_a_time(pipeline, repo, tmp_path,
                                                           monkeypatch):
    (tmp_path / "rec.json").write_text(json.dumps({"tiny": {"status": "ok", "wall_s": 9}}))
    monkeypatch.setenv("FAKE_MAKE_RC", "3")
    assert _main(pipeline, repo, tmp_path) == 3
    records = json.loads((tmp_path / "rec.json").read_text())
    assert records["tiny"] == {"status": "ok", "wall_s": 9}  # other profiles kept
    assert records["default"]["status"] == "failed" and records["default"]["exit_code"] == 3
    assert "wall_s" not in records["default"]
    assert not list((tmp_path / "runs").iterdir())  # no --keep: the clone is removed
    text = pipeline.section(tmp_path / "rec.json")
    assert "| default | failed (exit 3) |" in text and "| tiny | 0:09 |" in text


def test_an_unknown_profile_or_a_broken_record_stops_before_the_run(pipeline, repo,
                                                                    tmp_path, capsys):
    assert _main(pipeline, repo, tmp_path, "--profile", "tinny") == 1
    assert "unknown profile 'tinny'" in capsys.readouterr().err
    assert not (tmp_path / "rec.json").exists()
    (tmp_path / "rec.json").write_text("{")
    assert _main(pipeline, repo, tmp_path) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    assert "No figures" in pipeline.section(tmp_path / "rec.json")


def test_section_says_which_profiles_have_no_record(pipeline, tmp_path):
    record = tmp_path / "rec.json"
    record.write_text(json.dumps({"default": {
        "status": "ok", "wall_s": 2180.4, "commit": "7697b99782", "date": "2026-12-04T21:40:00Z",
        "machine": "AMD EPYC, 2 cores, no GPU", "nproc": 2, "load_avg_start": [1.0, 0.5, 0.25],
        "exit_code": 0}}))
    text = pipeline.section(record)
    assert ("| default | 36:20 | 7697b99 | 2026-12-04 21:40 | AMD EPYC, 2 cores, no GPU | 2 | "
            "1.0, 0.5, 0.2 |") in text
    assert "| tiny | no record yet: `python benchmarks/pipeline.py --profile tiny`" in text
    assert "No record yet for tiny" in text
    assert "No record yet" in pipeline.section(tmp_path / "missing.json")


def _imports(path: Path, local: set[str]) -> set[str]:
    """The benchmark modules ``path`` imports, anywhere in it (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & local


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module -> modules it imports), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        for dep in sorted(graph[node]):
            if found := visit(dep, [*path, node]):
                return found
        done.add(node)
        return None

    return next((c for n in sorted(graph) if (c := visit(n, []))), None)


def test_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_benchmark_scripts_import_each_other_without_a_cycle():
    """bench.py, peers.py, ... run as scripts with benchmarks/ first on sys.path, so
    they import each other by bare name: a cycle (peers -> bench -> peers) means a
    module half-initialised when run one way and not the other."""
    files = {p.stem: p for p in (ROOT / "benchmarks").glob("*.py")}
    graph = {name: _imports(path, set(files)) - {name} for name, path in files.items()}
    assert graph["bench"] >= {"cases", "peers"} and "problems" in graph["peers"]
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"
