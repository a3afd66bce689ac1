"""Atomic, all-or-nothing file output.

Every file is written to a temp file in its own folder, then renamed over the target
(``os.replace`` is atomic on POSIX), so a killed stage never leaves a half-written
file that looks complete. Inside :func:`staged` (the stage runner opens one around
every stage body) the renames wait until the whole body has succeeded: a stage
publishes all its outputs or none, and a failure removes what it wrote, the folders
it created included, and leaves its previous outputs as they were. The open staging
lives in a :class:`contextvars.ContextVar` (as ``neuralode.stats`` keeps its
collectors): a thread sees only its own; :func:`unstaged` writes a block's files at
once, for files that must outlive a failed stage (training checkpoints).

Readers of stage outputs (:func:`load_arrays`, :func:`read_json`, :func:`read_csv`)
turn an empty, truncated or foreign file into one line that names the file and the
stage that writes it (:func:`~neuralode_repro.producers.stage_hint`).
"""

from __future__ import annotations

import csv
import errno
import functools
import io
import json
import os
import signal
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from .producers import stage_hint, unreadable


class OutputError(OSError):
    """An output that cannot be written: the message names the path and the fix."""


class _Staging:
    """The outputs of one stage body: (temp file, target) pairs and new folders."""

    def __init__(self) -> None:
        self.files: dict[Path, Path] = {}  # target -> temp file beside it
        self.folders: list[Path] = []  # created by this stage, outermost first

    def discard(self) -> None:
        for tmp in self.files.values():
            tmp.unlink(missing_ok=True)
        self.files.clear()
        for folder in reversed(self.folders):
            try:
                folder.rmdir()  # only if empty: never a folder holding other files
            except OSError:
                pass

    def publish(self) -> None:
        """Replace every target or none: each existing target is renamed aside first and
        a failure part-way puts them all back (the old set is the last good result).
        Ctrl-C and SIGTERM wait until the renames are done (they would leave a mixed
        set), then take effect."""
        with _signals_held():
            self._replace_all()

    def _replace_all(self) -> None:
        done: list[tuple[Path, Path | None]] = []  # (target, its previous file aside)
        for path, tmp in self.files.items():
            try:
                if path.is_dir() and not path.is_symlink():  # never rename a folder aside
                    raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
                aside = tmp.with_suffix(".old") if os.path.lexists(path) else None
                if aside is not None:
                    os.replace(path, aside)
                done.append((path, aside))
                os.replace(tmp, path)
            except OSError as err:
                lost = [_undo(target, old) for target, old in reversed(done)]
                self.discard()
                raise _output_error(path, err, [x for x in lost if x]) from None
        for _, old in done:
            if old is not None:
                old.unlink(missing_ok=True)
        self.files.clear()


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the block and deliver the first one that came when
    it ends. In the main thread only, where Python runs signal handlers (a thread's
    signal mask would not do: the process's other threads would still take them)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: held.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        if held:
            signal.raise_signal(held[0])


def _undo(target: Path, old: Path | None) -> str:
    """Put ``target`` back as it was before a publish: its ``old`` file, or none; what
    could not be put back, for the error to say."""
    try:
        if old is None:
            target.unlink(missing_ok=True)
        else:
            os.replace(old, target)
    except OSError as err:
        return f"{target} ({err.strerror}; its previous file is {old or 'none'})"
    return ""


_STAGING: ContextVar[_Staging | None] = ContextVar("neuralode_repro_staging", default=None)


@contextmanager
def staged() -> Iterator[_Staging]:
    """Hold back every output written inside the block; publish them all when the
    block succeeds, remove them all (and the folders made for them) when it raises.
    A block nested in another publishes when it ends, as its own unit."""
    staging = _Staging()
    token = _STAGING.set(staging)
    try:
        yield staging
    except BaseException:
        staging.discard()
        raise
    finally:
        _STAGING.reset(token)
    staging.publish()


@contextmanager
def unstaged() -> Iterator[None]:
    """Inside a :func:`staged` block, write the files of this block at once: for files
    that are not stage outputs and must outlive a failed stage, such as the training
    checkpoint a rerun resumes from."""
    token = _STAGING.set(None)
    try:
        yield
    finally:
        _STAGING.reset(token)


def _output_error(path: Path, err: OSError, lost: Sequence[str] = ()) -> OutputError:
    why = err.strerror or str(err)
    fix = {errno.ENOSPC: f"free space on the disk that holds {path.parent}",
           errno.EDQUOT: f"free space in your quota for {path.parent}",
           errno.EROFS: f"{path.parent} is on a read-only file system; write elsewhere"}.get(
        err.errno, f"check that {path.parent} is a writable folder")
    if err.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST) and path.is_dir():
        why, fix = "it is a folder", "remove the folder or change the output path"
    undone = f"; could not put back {', '.join(lost)}" if lost else ""
    return OutputError(f"cannot write {path}: {why}; {fix}{undone}")


@functools.cache
def _file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 less the umask. Read once, on first
    use: ``os.umask`` only reads the mask by setting it, so it is set straight back."""
    umask = os.umask(0o077)
    os.umask(umask)
    return 0o666 & ~umask


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p ``folder``; returns the folders it created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path next to ``path``; when the block succeeds it becomes ``path``:
    at once, or, inside :func:`staged` (and not :func:`unstaged`), when the stage
    succeeds."""
    path = Path(path)
    staging = _STAGING.get()
    try:
        created = _make_parents(path.parent)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise _output_error(path, err) from None
    os.close(fd)
    tmp = Path(name)
    if staging is not None:
        staging.folders.extend(created)
    try:
        try:
            yield tmp
            os.chmod(tmp, _file_mode())  # mkstemp makes 0600; others may read outputs
            if staging is None:
                os.replace(tmp, path)
                return
        except OSError as err:
            raise _output_error(path, err) from None
        old = staging.files.pop(path, None)  # written twice: the last write wins
        if old is not None:
            old.unlink(missing_ok=True)
        staging.files[path] = tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
