"""File formats of the pipeline's outputs: JSON, CSV, NumPy archives and text, each
written atomically and inside the stage's staging (:mod:`neuralode_repro.staging`).

Readers of stage outputs (:func:`load_arrays`, :func:`read_json`, :func:`read_csv`)
turn an empty, truncated or foreign file into one line that names the file and the
stage that writes it (:func:`~neuralode_repro.producers.stage_hint`).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .producers import stage_hint, unreadable
from .staging import atomic_path


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
    """Read arrays written by :func:`save_arrays`; a missing, empty, truncated or
    foreign file is one error naming the file and the stage that writes it."""
    path = _existing(path)
    try:
        with path.open("rb") as f:
            head = f.read(6)
        if head and not head.startswith(b"PK"):  # numpy would call it pickled data
            raise ValueError("a .npy array, not an .npz archive" if head == b"\x93NUMPY"
                             else "not an .npz (zip) archive")
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as err:
        if isinstance(err, OSError):
            why = err.strerror or str(err)
        elif isinstance(err, ValueError):
            why = str(err).split(". ")[0]  # numpy's run on for lines
        else:  # zipfile's, zlib's, EOF: bytes cut short or changed
            why = "truncated or corrupt zip archive"
        raise ValueError(unreadable(path, ".npz file", why)) from None


def _cell(value: Any) -> str:
    if isinstance(value, str):  # a label, e.g. the solver of a sweep row: csv quotes it
        if "\r" in value:  # csv leaves a lone \r unquoted, and its reader ends the row there
            raise ValueError(f"CSV label {value!r} holds a carriage return (\\r), which "
                             "would split its row; remove it")
        return value
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    return f"{float(value):.6g}"


def _value(cell: str) -> float | str:
    try:
        return float(cell)
    except ValueError:
        return cell


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]],
              columns: Sequence[str] | None = None) -> None:
    """The one CSV writer of every stage (training logs, sweeps, ``dvc plots`` data).

    Columns are ``columns`` or the first row's keys; integers are written as such,
    floats with 6 significant digits, strings (labels) as they are (quoted by
    :mod:`csv` where they hold a comma, a quote or a newline), and a key a row lacks
    as ``nan``. Lines end in ``\\n``, not the ``\\r\\n`` of csv's default dialect."""
    if columns is None:
        if not rows:
            raise ValueError(f"{path}: no rows to write and no columns given")
        columns = list(rows[0])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(row.get(c, float("nan"))) for c in columns] for row in rows)
    write_text(path, buf.getvalue())


def read_csv(path: str | Path) -> list[dict[str, float | str]]:
    """Rows written by :func:`write_csv`, every number as a float and labels as
    strings; a missing or malformed file names its stage."""
    path = _existing(path)
    reader = csv.reader(io.StringIO(_read_text(path, "CSV file")), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path} is empty; {stage_hint(path)}")
        rows = []
        for cells in reader:
            if len(cells) != len(header):
                raise ValueError(f"{path}:{reader.line_num}: {len(cells)} values for "
                                 f"{len(header)} columns; {stage_hint(path)}")
            rows.append({k: _value(v) for k, v in zip(header, cells, strict=True)})
    except csv.Error as err:  # a quote left open (the file cut short) or misplaced
        raise ValueError(unreadable(path, "CSV file", f"line {reader.line_num}: {err}")
                         ) from None
    return rows


def read_json(path: str | Path) -> Any:
    """A JSON file an earlier stage wrote; a missing or truncated one names the fix."""
    path = _existing(path)
    try:
        return json.loads(_read_text(path, "JSON file"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err.msg}: line {err.lineno} column "
                         f"{err.colno}); {stage_hint(path)}") from None


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `dvc repro` so the stage that "
                                "writes it runs first")
    return path


def _read_text(path: Path, what: str) -> str:
    try:  # newline="": a newline inside a quoted CSV label stays as it was written
        with path.open(encoding="utf-8", newline="") as f:
            return f.read()
    except UnicodeDecodeError as err:  # binary bytes: another format, or corrupt
        raise ValueError(unreadable(path, what, f"not UTF-8 text at byte {err.start}")
                         ) from None
    except OSError as err:  # a folder, no permission
        raise ValueError(unreadable(path, what, err.strerror or str(err))) from None
