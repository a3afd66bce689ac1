"""DVC never serves stale outputs: every stage lists every source file it imports.

The closure is computed from the code (an ``ast`` walk of each stage's script and of
everything it imports, package ``__init__`` files included) and checked against the
deps that ``dvc.yaml`` declares.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from neuralode_repro import codedeps
from neuralode_repro.cmdguard import stage_command

ROOT = Path(__file__).resolve().parents[1]


def _stages() -> dict[str, dict]:
    doc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    return {name: stage.get("do", stage) for name, stage in doc["stages"].items()}


@pytest.mark.parametrize("name", list(_stages()))
def test_every_imported_file_is_a_dep(name):
    stage = _stages()[name]
    script = codedeps.stage_script(stage["cmd"])
    assert script is not None, stage["cmd"]
    closure = codedeps.import_closure(ROOT / script)
    assert any(p.name == "__init__.py" for p in closure)  # the package's init runs too
    deps = [str(d) for d in stage["deps"]]
    missing = sorted(str(p.relative_to(ROOT)) for p in closure
                     if not codedeps.covered(p, deps, ROOT))
    assert not missing, (f"{name} imports {missing} but does not depend on them; run "
                         "`make deps`")


def test_dvc_yaml_is_what_make_deps_writes():
    assert codedeps.update(ROOT / "dvc.yaml", write=False) == []


def test_figure_code_is_not_a_dep_of_data_generation():
    """Closures stay small: a figure edit does not regenerate the data."""
    deps = [str(d) for d in _stages()["generate_data"]["deps"]]
    assert not any("figures" in d or "experiments" in d for d in deps), deps


@pytest.mark.parametrize("name", [n for n in _stages() if not n.startswith("figures")
                                  and n != "report"])
def test_figure_code_is_a_dep_of_figure_stages_only(name):
    """A figure edit reruns figure stages and the report, never training or evaluation:
    only figures_* import the figure code."""
    deps = [str(d) for d in _stages()[name]["deps"]]
    assert not [d for d in deps if d.startswith("src/neuralode_repro/figures")], (name, deps)


def _outputs(stage: dict) -> list[str]:
    out = []
    for kind in ("outs", "metrics", "plots"):
        for item in stage.get(kind) or []:
            out.append(next(iter(item)) if isinstance(item, dict) else item)
    return out


@pytest.mark.parametrize("name", list(_stages()))
def test_output_paths_come_from_the_cmd(name):
    """dvc.yaml is the one place an output path is spelled: the stage script gets
    every output it writes on its command line (the file, or the folder it writes it
    in), so the two cannot disagree."""
    stage = _stages()[name]
    args = set(stage_command(stage["cmd"]).split())
    missing = [o for o in _outputs(stage)
               if not {o, *map(str, list(Path(o).parents)[:-1])} & args]
    assert not missing, f"{name}: outputs {missing} are not in its cmd: {stage['cmd']}"


@pytest.fixture
def pkg(tmp_path):
    """A small package: re-exports in __init__, relative and lazy imports."""
    files = {
        "pkg/__init__.py": "from .core import solve\n",
        "pkg/core.py": "import math\nfrom . import _util\n",
        "pkg/_util.py": "",
        "pkg/sub/__init__.py": "",
        "pkg/sub/a.py": "from ..core import solve\n\ndef f():\n    from pkg.sub import b\n",
        "pkg/sub/b.py": "from .. import core\n",
        "pkg/unused.py": "",
        "script.py": "import pkg.sub.a\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_closure_follows_inits_relative_and_lazy_imports(pkg):
    found = {str(p.relative_to(pkg)) for p in codedeps.import_closure(pkg / "script.py", pkg)}
    assert found == {"script.py", "pkg/__init__.py", "pkg/core.py", "pkg/_util.py",
                     "pkg/sub/__init__.py", "pkg/sub/a.py", "pkg/sub/b.py"}


def test_compress_lists_a_folder_only_when_all_of_it_is_used(pkg):
    closure = codedeps.import_closure(pkg / "script.py", pkg)
    assert codedeps.compress(closure, pkg, pkg) == [
        "pkg/__init__.py", "pkg/_util.py", "pkg/core.py", "pkg/sub"]


def test_code_hash_changes_with_any_imported_file(pkg):
    closure = codedeps.import_closure(pkg / "script.py", pkg)
    before = codedeps.code_hash(closure, pkg)
    (pkg / "pkg/_util.py").write_text("X = 1\n")
    assert codedeps.code_hash(closure, pkg) != before


@pytest.mark.parametrize("name", [n for n in _stages() if n.startswith(("train_", "evaluate_"))])
def test_training_and_evaluation_import_no_figure_code(name):
    """A figure edit reruns no training or evaluation (paper workflow: train ->
    evaluate -> figures): no figure module is in those stages' deps."""
    deps = codedeps.code_deps(codedeps.stage_script(_stages()[name]["cmd"]))
    assert not [d for d in deps if "figures" in d], deps


def test_training_loads_no_plotting_library():
    """Importing every training experiment loads neither matplotlib nor figure code."""
    import subprocess
    import sys

    mods = ", ".join(f"neuralode_repro.experiments.{m}" for m in ("toy", "mnist", "latent", "cnf"))
    code = (f"import sys\nimport {mods}\n"
            "print(sorted(m for m in sys.modules if 'figures' in m or "
            "m.startswith('matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", out
