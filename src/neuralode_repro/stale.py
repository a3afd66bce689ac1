"""Outputs of stages that no longer exist: found from DVC's own view of the pipeline.

A matrix stage leaves the pipeline when its params shrink (``train_cnf.capacity.widths``
loses 32, a seed is dropped, a profile has fewer entries). ``dvc repro`` then neither
runs nor forgets it: its ``dvc.lock`` entry and its git-tracked outputs under
``metrics/`` and ``reports/`` stay, and ``dvc metrics show``, the repository and a
profile's exported results would mix them with this run's. ``python -m
neuralode_repro.stale`` lists them; ``--prune`` deletes them (``make repro`` does, after
``dvc repro``). Only outputs that ``dvc.lock`` records for a stage absent from the
pipeline are touched, and never one that a current stage also writes.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from .config import ConfigError
from .io import write_text


@dataclass(frozen=True)
class Pipeline:
    """The stages of ``dvc.yaml`` as expanded with the params of one revision."""

    stages: frozenset[str]
    outs: frozenset[str]


def pipeline(root: Path, rev: str | None = None) -> Pipeline:
    """DVC's expansion of the pipeline at ``rev`` (None: the workspace)."""
    from dvc.repo import Repo  # DVC's import costs ~1 s; only this command pays it

    with Repo(str(root), rev=rev) as repo:
        stages = list(repo.index.stages)
        return Pipeline(frozenset(s.name for s in stages),
                        frozenset(str(o.def_path) for s in stages for o in s.outs))


def lock_entries(lock_text: str) -> dict[str, dict]:
    data = YAML(typ="safe").load(lock_text) or {}
    return dict(data.get("stages") or {})


def stale(lock_text: str, current: Pipeline) -> tuple[list[str], list[str]]:
    """(stage names in ``dvc.lock`` that the pipeline lacks, their outputs that no
    current stage writes)."""
    entries = lock_entries(lock_text)
    gone = sorted(set(entries) - current.stages)
    outs = sorted({o["path"] for name in gone for o in entries[name].get("outs") or ()}
                  - current.outs)
    return gone, outs


def pruned_lock(lock_text: str, current: Pipeline) -> str:
    """``dvc.lock`` without the entries of stages the pipeline lacks; the rest of the
    file is kept byte for byte (a round trip, as DVC itself writes it)."""
    rt = YAML()  # DVC's own writer: the same line wrapping
    data = rt.load(lock_text)
    for name in [k for k in data.get("stages") or {} if k not in current.stages]:
        del data["stages"][name]
    buf = io.StringIO()
    rt.dump(data, buf)
    return buf.getvalue()


def prune(root: Path, write: bool) -> tuple[list[str], list[str]]:
    """Find (and with ``write``, delete) the workspace's stale lock entries and outputs."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        return [], []
    if not (root / "dvc.yaml").is_file():  # no pipeline: every lock entry would look stale
        raise ConfigError(f"{root / 'dvc.yaml'} not found beside {lock}; run this from the "
                          "repository root")
    text = lock.read_text(encoding="utf-8")
    current = pipeline(root)
    if not current.stages:
        raise ConfigError(f"{root / 'dvc.yaml'} defines no stages; refusing to treat every "
                          "dvc.lock entry as stale")
    gone, outs = stale(text, current)
    if write and gone:
        for rel in outs:
            path = root / rel
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        write_text(lock, pruned_lock(text, current))
    return gone, outs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m neuralode_repro.stale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prune", action="store_true", help="delete them and drop their "
                        "dvc.lock entries")
    args = parser.parse_args(argv)
    if not Path("dvc.lock").is_file():
        print("no dvc.lock here: nothing has run (run this from the repository root)")
        return
    try:
        gone, outs = prune(Path("."), args.prune)
    except ConfigError as err:
        sys.exit(f"error: {err}")
    if not gone:
        print("no stale stages: dvc.lock holds only stages of the pipeline")
        return
    verb = "removed" if args.prune else "found (`--prune` removes them)"
    print(f"{verb}: {len(gone)} dvc.lock entr{'y' if len(gone) == 1 else 'ies'} of stages no "
          f"longer in the pipeline ({', '.join(gone[:5])}{', ...' if len(gone) > 5 else ''}) "
          f"and {len(outs)} of their outputs")
    for rel in outs:
        print(f"  {rel}")


if __name__ == "__main__":
    main()
