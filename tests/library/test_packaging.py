"""The library is a distribution of its own: torch is its only dependency, and no
library file imports the pipeline or anything beyond torch and the standard library."""

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "library"
ALLOWED = {"torch", "neuralode"} | set(sys.stdlib_module_names)


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_library_files_import_torch_and_the_standard_library_only():
    files = sorted((LIB / "neuralode").rglob("*.py"))
    assert len(files) >= 10
    bad = {str(f.relative_to(ROOT)): sorted(_imported_roots(f) - ALLOWED) for f in files}
    assert not {k: v for k, v in bad.items() if v}, bad


def test_library_declares_torch_only_and_the_pipeline_depends_on_it():
    lib = tomllib.loads((LIB / "pyproject.toml").read_text())["project"]
    assert lib["name"] == "neuralode"
    assert [d.split(">")[0].split("=")[0].strip() for d in lib["dependencies"]] == ["torch"]
    pipe = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert pipe["name"] != "neuralode"
    assert f"neuralode=={lib['version']}" in pipe["dependencies"]
    import neuralode

    assert neuralode.__version__ == lib["version"]


def test_library_wheel_builds_alone_with_only_the_library_in_it(tmp_path):
    """`pip wheel ./library`: the wheel holds neuralode/ and requires torch alone.
    Built from a copy, since setuptools writes build/ and egg-info beside the sources."""
    src = tmp_path / "library"
    shutil.copytree(LIB, src, ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                            "__pycache__"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "-q", "-w", str(tmp_path), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("neuralode-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"neuralode"}, packages
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in zipfile.ZipFile(wheel).read(meta).decode().splitlines()
                if line.startswith("Requires-Dist:")]
    assert len(requires) == 1 and requires[0].startswith("Requires-Dist: torch"), requires
