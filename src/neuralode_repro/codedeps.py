"""The project source files a stage runs, found from the code: the import closure.

A DVC stage must list every source file its command imports, directly or through
other modules (a package's ``__init__.py`` included: importing ``neuralode_repro.data.mnist``
runs ``neuralode_repro/__init__.py`` and ``neuralode_repro/data/__init__.py``), and the
library's files (``library/neuralode``) as well as the pipeline's, or an edit to one
of them leaves cached results that the current code would not produce. This module
reads the imports with :mod:`ast` (every ``import`` anywhere in a file, lazy ones
inside functions too), so the closure is an over-approximation of what runs and never
misses a file. It serves two purposes:

* ``python -m neuralode_repro.codedeps --write`` rewrites the code deps of every stage in
  ``dvc.yaml`` (``--check`` fails when they are stale; the tests run it);
* :func:`code_hash` keys training checkpoints by the code that produced them.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from .cmdguard import stage_command

ROOT = Path(__file__).resolve().parents[2]
# Where the project's packages live: the pipeline (src/) and the library (library/).
SRC_DIRS = ("src", "library")
SRC: tuple[Path, ...] = tuple(ROOT / d for d in SRC_DIRS)
Roots = Path | Sequence[Path]


def _roots(src: Roots) -> tuple[Path, ...]:
    return (src,) if isinstance(src, Path) else tuple(src)
# every stage runs as `python stages/run.py <stage> ...` (the one entry point)
_SCRIPT = re.compile(r"(?:^|\s)stages/run\.py\s+(\w+)(?:\s|$)")


def _module_file(name: str, src: Roots) -> Path | None:
    """The file of module ``a.b.c`` under a root of ``src`` (module or package), if it
    is ours."""
    for root in _roots(src):
        base = root.joinpath(*name.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _with_parents(name: str, src: Roots) -> list[Path]:
    """Importing ``a.b.c`` runs ``a/__init__.py``, ``a/b/__init__.py``, then ``a/b/c``."""
    parts = name.split(".")
    found = [_module_file(".".join(parts[:i]), src) for i in range(1, len(parts) + 1)]
    return [f for f in found if f is not None]


def _package_of(path: Path, src: Roots) -> str:
    """Dotted package a file belongs to ('' for a script outside ``src``)."""
    root = next((r for r in _roots(src) if path.is_relative_to(r)), None)
    if root is None:
        return ""
    rel = path.relative_to(root)
    parts = rel.with_suffix("").parts
    return ".".join(parts if path.name == "__init__.py" else parts[:-1]).removesuffix(
        ".__init__")


def imports_of(path: Path, src: Roots = SRC) -> set[Path]:
    """Project files that ``path`` imports directly (with their packages' __init__)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(path, src)
    out: set[Path] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.update(_with_parents(alias.name, src))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module:
                continue
            out.update(_with_parents(module, src))
            for alias in node.names:  # `from pkg import submodule`
                sub = _module_file(f"{module}.{alias.name}", src)
                if sub is not None:
                    out.add(sub)
    return out


def import_closure(script: Path, src: Roots = SRC) -> set[Path]:
    """``script`` and every project file it imports, transitively."""
    seen: set[Path] = set()
    todo = [script.resolve()]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(p.resolve() for p in imports_of(path, src) - seen)
    return seen


def code_hash(files: Iterable[Path], root: Path = ROOT) -> str:
    """SHA-256 over the files' paths (relative to ``root`` where they lie inside it)
    and bytes; independent of the order given."""
    h = hashlib.sha256()
    for path in sorted(Path(f).resolve() for f in files):
        name = path.relative_to(root) if path.is_relative_to(root) else path.name
        h.update(str(name).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def compress(files: set[Path], root: Path = ROOT, src: Roots = SRC) -> list[str]:
    """Repo-relative deps covering ``files``: a package folder whose .py files are all
    in ``files`` is listed as the folder (shorter, and it covers a new module)."""
    out: list[str] = []

    def visit(folder: Path) -> None:
        mods = sorted(folder.rglob("*.py"))
        if mods and all(m.resolve() in files for m in mods):
            out.append(str(folder.relative_to(root)))
            return
        for m in sorted(folder.glob("*.py")):
            if m.resolve() in files:
                out.append(str(m.relative_to(root)))
        for sub in sorted(p for p in folder.iterdir() if (p / "__init__.py").is_file()):
            visit(sub)

    for base in _roots(src):
        for pkg in sorted(p for p in base.iterdir() if (p / "__init__.py").is_file()):
            visit(pkg)
    return out


def covered(path: Path, deps: Iterable[str], root: Path = ROOT) -> bool:
    """True when ``path`` is one of ``deps`` or lies in a folder among them."""
    rel = path.resolve().relative_to(root)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


def stage_script(cmd: str | list[str]) -> str | None:
    """``stages/<name>.py`` from a stage's ``cmd`` (a command, or a list of them whose
    last is the stage's own: see :mod:`neuralode_repro.cmdguard`)."""
    m = _SCRIPT.search(stage_command(cmd))
    return f"stages/{m.group(1)}.py" if m else None


def code_deps(script: str, root: Path = ROOT) -> list[str]:
    """The code deps of a stage: its script, then the source files it imports."""
    src = tuple(root / d for d in SRC_DIRS)
    closure = import_closure(root / script, src)
    return [script, *compress(closure, root, src)]


def _is_code(dep: str) -> bool:
    return dep.startswith(tuple(f"{d}/" for d in SRC_DIRS)) or (
        dep.startswith("stages/") and dep.endswith(".py"))


def update(dvc_yaml: Path, write: bool) -> list[str]:
    """Stages of ``dvc_yaml`` whose code deps differ from their import closure; with
    ``write``, rewrite them (data deps are kept, after the code deps)."""
    from ruamel.yaml import YAML

    from .io import write_text

    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.width = 100
    doc = yaml.load(dvc_yaml.read_text(encoding="utf-8"))
    root = dvc_yaml.resolve().parent
    stale = []
    for name, stage in doc["stages"].items():
        body = stage.get("do", stage)
        script = stage_script(body.get("cmd", ""))
        if script is None:
            continue
        deps = list(body.get("deps") or [])
        want = code_deps(script, root) + [d for d in deps if not _is_code(str(d))]
        if [str(d) for d in deps] != want:
            stale.append(name)
            body["deps"] = want
    if write and stale:
        import io as _io

        buf = _io.StringIO()
        yaml.dump(doc, buf)
        write_text(dvc_yaml, buf.getvalue())
    return stale


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m neuralode_repro.codedeps",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps")
    parser.add_argument("--dvc-yaml", type=Path, default=Path("dvc.yaml"))
    args = parser.parse_args(argv)
    stale = update(args.dvc_yaml, args.write)
    if not stale:
        print(f"{args.dvc_yaml}: code deps match every stage's import closure")
    elif args.write:
        print(f"{args.dvc_yaml}: rewrote the code deps of {', '.join(stale)}")
    else:
        print(f"error: {args.dvc_yaml}: code deps of {', '.join(stale)} differ from their "
              "import closure; run `python -m neuralode_repro.codedeps --write`", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
