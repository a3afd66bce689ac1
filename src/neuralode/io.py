"""Atomic, deterministic file output. A killed stage never leaves a half-written
file that looks complete: everything is written to a temp file in the same folder,
then renamed over the target (``os.replace`` is atomic on POSIX)."""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


class OutputError(OSError):
    """An output folder that cannot be created or written."""


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success rename it to ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}; check that "
                          f"{path.parent} exists and is writable") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str | Path, obj: Any) -> None:
    """Sorted, indented JSON: same content, same bytes."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_arrays(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write an ``.npz`` readable by ``np.load`` whose bytes depend only on the
    arrays (fixed member timestamps, sorted names), unlike ``np.savez``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[name]),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, member.getvalue())
    write_bytes(path, buf.getvalue())


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Read arrays written by :func:`save_arrays`; a missing file names its stage."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `dvc repro` so the stage that "
                                "writes it runs first")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
