"""Which stage writes a file: the fix that an error about an unreadable stage output
names (``dvc repro -f <stage>``), looked up in dvc.lock, else dvc.yaml, only when
such an error is raised (no start-up cost)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any


def unreadable(path: Path, what: str, why: str, fix: str | None = None) -> str:
    """``<path> is not a readable <what> (<why>); <fix>``, by default how to rewrite it:
    the one line for a stage output that is empty, truncated, a folder or foreign."""
    if path.is_dir():
        why = "it is a folder"
    elif path.is_file() and path.stat().st_size == 0:
        why = "it is empty"
    return f"{path} is not a readable {what} ({why}); {fix or stage_hint(path)}"


def stage_hint(path: str | Path) -> str:
    """How to rewrite the stage output ``path``: rerun the stage that ``dvc.lock`` (else
    ``dvc.yaml``) in the working folder lists it under. Read only on an error path."""
    stage = _producer(Path(path))
    if stage is None:
        return "rerun the stage that writes it (`dvc repro -f <that stage>`)"
    return f"it is written by stage {stage}: rerun it with `dvc repro -f {stage}`"


def _producer(path: Path) -> str | None:
    from ruamel.yaml import YAML, YAMLError  # only on this error path

    rel = os.path.relpath(os.path.abspath(path)).replace(os.sep, "/")
    if rel.startswith("../"):  # outside the working folder: no stage here writes it
        return None
    for name in ("dvc.lock", "dvc.yaml"):  # the lock has a matrix stage's own name
        try:
            doc = YAML(typ="safe").load(Path(name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, YAMLError):
            continue
        stages = doc.get("stages") if isinstance(doc, dict) else None
        found = [(len(out), str(stage)) for stage, spec in
                 (stages.items() if isinstance(stages, dict) else ())
                 for out in _outs(spec) if _covers(out, rel)]
        if found:  # the innermost output: data/toy/x.npz before data/toy
            return max(found)[1]
    return None


def _outs(spec: Any) -> list[str]:
    """The output paths of a stage of dvc.lock (``{path: ...}`` items) or dvc.yaml
    (``path`` or ``{path: {options}}`` items; a matrix stage's have ``${...}``)."""
    items = [i for key in ("outs", "metrics", "plots") if isinstance(spec, dict)
             and isinstance(spec.get(key), list) for i in spec[key]]
    paths = [i.get("path", next(iter(i), None)) if isinstance(i, dict) else i for i in items]
    return [p.rstrip("/") for p in paths if isinstance(p, str) and p]


def _covers(out: str, rel: str) -> bool:
    """``rel`` is the output ``out`` or inside it; a ``${...}`` matches one name."""
    pattern = re.sub(r"\\\$\\\{[^}]*\\\}", "[^/]+", re.escape(os.path.normpath(out)))
    return re.fullmatch(f"{pattern}(/.*)?", rel) is not None
