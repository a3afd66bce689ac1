"""Profiles: overlays of params.yaml kept in ``profiles/<name>.yaml``.

``python -m neuralode_repro.profile apply paper`` deep-merges the overlay into params.yaml
in place (comments kept), so ``dvc repro`` then reruns exactly the stages whose
params changed. ``python -m neuralode_repro.profile args paper`` prints the same overlay
as ``-S key=value`` flags for ``dvc exp run`` (e.g. to queue it).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError

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
    merge(data, overlay)
    validate(json.loads(json.dumps(data)), f"{params.name} + profiles/{name}.yaml")
    return data


def apply(name: str, params: Path = Path("params.yaml"), folder: Path = PROFILES) -> None:
    """Write params.yaml merged with ``profiles/<name>.yaml``."""
    data = merged(name, params, folder)
    buf = io.StringIO()
    _yaml().dump(data, buf)
    write_text(params, buf.getvalue())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m neuralode_repro.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["apply", "args"])
    parser.add_argument("name", help="a file name in profiles/, without .yaml")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        if args.action == "apply":
            apply(args.name, args.params)
            print(f"applied profiles/{args.name}.yaml to {args.params}")
        else:
            merged(args.name, args.params)
            print(" ".join(f"-S '{k}={json.dumps(v)}'"
                           for k, v in flat_items(load_overlay(args.name))))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
