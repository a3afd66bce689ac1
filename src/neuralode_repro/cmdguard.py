"""No params value reaches a shell: the check DVC runs before every stage command that
interpolates params.

DVC substitutes ``${...}`` into a stage's ``cmd`` and runs the result through the
user's shell, before any code of ours runs. A params value such as a
``train_toy.systems`` key named ``x;touch${IFS}/tmp/pwned;echo`` would run as shell
code; quoting cannot stop it, since a value can hold the quote itself (and a newline).
So every ``cmd`` in dvc.yaml that interpolates anything is a list whose first command,
``python stages/run.py _guard``, interpolates nothing. It resolves every ``${...}`` of every
stage's cmd against params.yaml and the stage's ``matrix``/``foreach``, and fails unless
each value is a plain token (:data:`SAFE`). DVC runs a list's commands one at a time,
each in its own shell, and stops at the first that fails, so a command holding an
unsafe value never reaches the shell. An expression the guard cannot resolve fails too.
``make repro`` runs the same check up front (``python -m neuralode_repro.params check``).

    python stages/run.py _guard [--dvc-yaml dvc.yaml] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError

from .config import ConfigError, load_params

# Letters, digits and punctuation that no POSIX shell (nor fish, zsh) gives a meaning
# inside a word; a leading '-' is refused too, as it would read as an option.
SAFE = re.compile(r"[A-Za-z0-9_.+/:=@,%][A-Za-z0-9_.+/:=@,%-]*")
_EXPR = re.compile(r"\$\{\s*([^}]*?)\s*\}")
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def stage_commands(cmd: str | Sequence[str]) -> list[str]:
    """A stage's ``cmd`` (a string or a list of commands) as a list of commands."""
    return [cmd] if isinstance(cmd, str) else [str(c) for c in cmd]


def stage_command(cmd: str | Sequence[str]) -> str:
    """The stage's own command in its ``cmd``: the last one (the guard comes first)."""
    return stage_commands(cmd)[-1]


def _lookup(data: Any, path: str, where: str) -> Any:
    """``a.b[0].c`` in nested mappings and lists, as DVC resolves it."""
    for name, index in _PART.findall(path):
        if index:
            ok = isinstance(data, list) and int(index) < len(data)
            data = data[int(index)] if ok else None
        else:
            ok = isinstance(data, Mapping) and name in data
            data = data[name] if ok else None
        if not ok:
            raise ConfigError(f"{where}: cannot resolve ${{{path}}}; the command guard "
                              "checks params.yaml values only (see neuralode_repro.cmdguard)")
    return data


def _source(spec: Any, params: Mapping[str, Any], where: str) -> tuple[Any, str]:
    """A matrix dimension's or foreach's values (``${a.b}`` or a literal), and what to
    call them in an error."""
    if isinstance(spec, str):
        m = _EXPR.fullmatch(spec.strip())
        if m is None:
            raise ConfigError(f"{where}: cannot resolve {spec!r}")
        return _lookup(params, m.group(1), where), m.group(1)
    if isinstance(spec, list):
        return [_source(s, params, where)[0] if isinstance(s, str) and "${" in s else s
                for s in spec], "a literal list in dvc.yaml"
    return spec, "a literal in dvc.yaml"


def _members(values: Any, origin: str) -> Iterator[tuple[Any, str]]:
    """The items a matrix dimension or foreach iterates (a mapping's keys)."""
    if isinstance(values, Mapping):
        yield from ((k, f"a key of {origin}") for k in values)
    elif isinstance(values, list):
        yield from ((v, f"{origin}[{i}]") for i, v in enumerate(values))
    else:
        yield values, origin


def _values(expr: str, stage: Mapping[str, Any], params: Mapping[str, Any], where: str
            ) -> Iterator[tuple[Any, str]]:
    """Every value ``${expr}`` takes in the stage's commands, with its origin."""
    head, _, rest = expr.partition(".")
    if head == "item" and "matrix" in stage:
        dim, _, field = rest.partition(".")
        if dim not in stage["matrix"]:
            raise ConfigError(f"{where}: ${{{expr}}} names no matrix dimension {dim!r}")
        values, origin = _source(stage["matrix"][dim], params, where)
        for value, name in _members(values, origin):
            yield (_lookup(value, field, where), name) if field else (value, name)
    elif head in ("item", "key") and "foreach" in stage:
        values, origin = _source(stage["foreach"], params, where)
        pairs = (list(values.items()) if isinstance(values, Mapping)
                 else list(enumerate(values)))
        for key, item in pairs:
            name = f"{origin}[{key!r}]"
            if head == "key":
                yield key, f"a key of {origin}"
            else:
                yield (_lookup(item, rest, where), name) if rest else (item, name)
    else:
        yield _lookup(params, expr, where), expr


def _leaves(value: Any) -> Iterator[Any]:
    """The keys and scalars of a value (DVC also spreads a mapping into a cmd)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield k
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def check(dvc: Mapping[str, Any], params: Mapping[str, Any], where: str = "params.yaml"
          ) -> int:
    """Raise :class:`ConfigError` at the first value a stage's cmd would pass to the
    shell that is not a plain token; returns how many values were checked."""
    checked = 0
    for name, stage in (dvc.get("stages") or {}).items():
        body = stage.get("do", stage) if "foreach" in stage else stage
        for cmd in stage_commands(body.get("cmd", [])):
            for expr in _EXPR.findall(cmd):
                for value, origin in _values(expr, stage, params, f"dvc.yaml:{name}"):
                    for leaf in _leaves(value):
                        checked += 1
                        if not SAFE.fullmatch(str(leaf)):
                            raise ConfigError(
                                f"{where}: {str(leaf)!r} ({origin}) is not a plain name: "
                                f"dvc.yaml's stage {name} puts it into a shell command as "
                                f"${{{expr}}}, where it could run as shell code; use letters, "
                                "digits and . _ + - / : = @ , % only (no leading -)")
    return checked


def read_dvc_yaml(path: Path) -> Mapping[str, Any]:
    """dvc.yaml, parsed as DVC parses it (ruamel.yaml's safe loader)."""
    try:
        doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as err:
        raise ConfigError(f"{path}: cannot be read as YAML ({' '.join(str(err).split())}); "
                          "run from the repository root") from None
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{path}: expected a mapping with 'stages', got "
                          f"{type(doc).__name__}")
    return doc


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="stages/run.py _guard",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--dvc-yaml", type=Path, default=Path("dvc.yaml"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        check(read_dvc_yaml(args.dvc_yaml), load_params(args.params), args.params.name)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
