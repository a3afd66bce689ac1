"""Profiles: overlays of params.yaml kept in ``profiles/<name>.yaml``.

``python -m neuralode_repro.profile run tiny`` (what ``make repro PROFILE=tiny`` calls)
runs the profile as a DVC experiment in a temporary workspace (``dvc exp run --temp``
with the overlay as ``-S`` overrides): params.yaml, dvc.lock, metrics/ and reports/ of
the checkout stay as they are. The experiment is named ``<profile>-<UTC time>``; its
MLflow runs carry that name as the ``reproduction`` tag, and its report, metrics and
lock are exported to ``runs/<experiment>/`` (git-ignored). ``--queue`` queues it instead
(``dvc queue start`` runs it; ``profile export <experiment>`` then exports it).
``apply`` merges the overlay into params.yaml itself, for a deliberate switch of the
workspace; ``args`` prints the overrides as flags for ``dvc exp run $(...)``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError

from . import stale
from .config import ConfigError, read_yaml
from .io import write_text
from .params import validate

PROFILES = Path("profiles")


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.width = 100
    return y


def load_overlay(name: str, folder: Path = PROFILES) -> dict[str, Any]:
    path = folder / f"{name}.yaml"
    if not path.is_file():
        have = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        raise ConfigError(f"unknown profile {name!r}: {path} not found; available: "
                          f"{', '.join(have) or 'none'}")
    try:
        data = _yaml().load(path.read_text(encoding="utf-8"))
    except (YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of params sections, got "
                          f"{type(data).__name__}")
    return data


def merge(base: Any, overlay: Mapping[str, Any], where: str = "") -> None:
    """Deep-merge ``overlay`` into ``base`` in place; mappings merge, the rest replaces."""
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merge(base[key], value, f"{where}{key}.")
        else:
            base[key] = value


def flat_items(overlay: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in overlay.items():
        if isinstance(value, Mapping):
            yield from flat_items(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def merged(name: str, params: Path = Path("params.yaml"), folder: Path = PROFILES) -> Any:
    """params.yaml (round-trip: comments kept) with the profile merged in, checked
    against the whole params schema before anything is written."""
    overlay = load_overlay(name, folder)
    read_yaml(params)  # the strict checks (UTF-8, duplicate keys, a file) come first
    data = _yaml().load(params.read_text(encoding="utf-8"))
    # an overlay sets only what its profile changes, so one on top of another mixes them
    base = (data.get("common") or {}).get("profile")
    if isinstance(base, str) and base != name and (folder / f"{base}.yaml").is_file():
        raise ConfigError(
            f"{params.name} already holds profile {base!r} (`profile apply {base}`, or an "
            f"experiment brought in with `dvc exp apply`); profile {name!r} on top of it "
            f"would mix the two. Restore the default params first (`git checkout "
            f"{params.name}`, or `git stash`), then rerun")
    merge(data, overlay)
    validate(json.loads(json.dumps(data)), f"{params.name} + profiles/{name}.yaml")
    return data


def apply(name: str, params: Path = Path("params.yaml"), folder: Path = PROFILES) -> None:
    """Write params.yaml merged with ``profiles/<name>.yaml``."""
    data = merged(name, params, folder)
    buf = io.StringIO()
    _yaml().dump(data, buf)
    write_text(params, buf.getvalue())


RUNS = Path("runs")
_PLAIN = re.compile(r"[A-Za-z0-9_.+-]+")


def override(key: str, value: Any, shell: bool = True) -> str:
    """One ``++key=value`` override in DVC's (Hydra's) syntax: ``++`` sets the key
    whether or not params.yaml has it (a profile may add one, e.g. an optimiser's
    momentum; plain ``key=value`` fails on a new key). For the ``shell``, without
    whitespace or single quotes, so that ``dvc exp run $(... args ...)`` keeps it whole."""
    plain = isinstance(value, str) and _PLAIN.fullmatch(value)
    text = value if plain else json.dumps(value, separators=(",", ":"))
    if shell and re.search(r"[\s']", text):
        raise ConfigError(f"{key}: the value {value!r} cannot pass through the shell's word "
                          "splitting; use `python -m neuralode_repro.profile run` instead")
    return f"++{key}={text}"


def exp_args(name: str, params: Path = Path("params.yaml"), folder: Path = PROFILES,
             shell: bool = True) -> list[str]:
    """The profile as ``-S key=value`` arguments for ``dvc exp run``, checked first."""
    merged(name, params, folder)
    return [a for k, v in flat_items(load_overlay(name, folder))
            for a in ("-S", override(k, v, shell))]


def _git(*args: str, root: Path) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout


def export(exp: str, root: Path = Path("."), runs: Path = RUNS) -> Path:
    """Copy the results of DVC experiment ``exp`` to ``runs/<exp>/``: its report and
    figures, the metrics files of its own stages, its params.yaml, and its dvc.lock less
    the entries of stages its pipeline lacks (:mod:`neuralode_repro.stale`: files its
    baseline left behind are not its results). Returns that folder."""
    refs = [r for r in _git("for-each-ref", "--format=%(refname)", "refs/exps",
                            root=root).split() if r.rsplit("/", 1)[-1] == exp]
    if len(refs) != 1:
        raise ConfigError(f"DVC experiment {exp!r}: found {len(refs)} with that name; "
                          "`dvc exp list` shows the names")
    current = stale.pipeline(root, rev=refs[0])
    tracked = sorted(o for o in current.outs if o.startswith(("metrics/", "reports/")))
    tar = subprocess.run(["git", "archive", "--format=tar", refs[0], "--", "params.yaml",
                          *tracked], cwd=root, capture_output=True, check=True).stdout
    out = root / runs / exp
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(out, filter="data")
    lock = _git("show", f"{refs[0]}:dvc.lock", root=root)
    write_text(out / "dvc.lock", stale.pruned_lock(lock, current))
    return out


def run(name: str, queue: bool = False, exp: str | None = None, root: Path = Path(".")
        ) -> str:
    """Run (or queue) ``profiles/<name>.yaml`` as a DVC experiment that leaves the
    workspace alone; returns the experiment's name."""
    args = exp_args(name, root / "params.yaml", root / PROFILES, shell=False)
    exp = exp or f"{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    untracked = _git("ls-files", "--others", "--exclude-standard", root=root).split()
    if untracked:  # dvc exp run --temp/--queue copies tracked and staged files only
        print(f"warning: {len(untracked)} untracked file(s) are left out of the experiment "
              f"(e.g. {untracked[0]}); `git add` them to include them", file=sys.stderr)
    env = {**os.environ, "NEURALODE_REPRO_ID": exp}  # the MLflow `reproduction` tag
    cmd = ["dvc", "exp", "run", "--queue" if queue else "--temp", "-n", exp, *args]
    if subprocess.run(cmd, cwd=root, env=env).returncode != 0:
        raise ConfigError(f"profile {name!r}: `dvc exp run` of experiment {exp!r} failed "
                          "(its output is above); the workspace is unchanged")
    if queue:
        print(f"queued DVC experiment {exp}: `dvc queue start` runs it, then "
              f"`python -m neuralode_repro.profile export {exp}` exports its report")
    else:
        out = export(exp, root)
        print(f"profile {name}: DVC experiment {exp} (`dvc exp show`; `dvc exp apply {exp}` "
              f"brings it into the workspace); MLflow runs tagged reproduction={exp}; "
              f"report: {out / 'reports/report.md'}")
    return exp


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m neuralode_repro.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["run", "export", "apply", "args"])
    parser.add_argument("name", help="a file name in profiles/, without .yaml (export: a "
                        "DVC experiment's name)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--queue", action="store_true", help="run: queue it, do not run it")
    parser.add_argument("--exp", help="run: the DVC experiment's name (default: "
                        "<profile>-<UTC time>)")
    args = parser.parse_args(argv)
    try:
        if args.action == "run":
            run(args.name, args.queue, args.exp)
        elif args.action == "export":
            print(f"exported to {export(args.name)}")
        elif args.action == "apply":
            apply(args.name, args.params)
            print(f"applied profiles/{args.name}.yaml to {args.params}")
        else:
            print(" ".join(exp_args(args.name, args.params)))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # Ctrl-C reaches dvc too; it cleans its temp workspace up
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except subprocess.CalledProcessError as err:
        print(f"error: {' '.join(map(str, err.cmd))} failed ({err.returncode}): "
              f"{(err.stderr or b'').decode(errors='replace').strip()[-500:]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
