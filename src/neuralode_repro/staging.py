"""All-or-nothing stage outputs: the atomic write of one file and the staging of a
stage's files.

Every file is written to a temp file in its own folder, then renamed over the target
(``os.replace`` is atomic on POSIX), so a killed stage never leaves a half-written
file that looks complete. Inside :func:`staged` (the stage runner opens one around
every stage body) the renames wait until the whole body has succeeded: a stage
publishes all its outputs or none, and a failure removes what it wrote, the folders
it created included, and leaves its previous outputs as they were. The open staging
lives in a :class:`contextvars.ContextVar` (as ``neuralode.stats`` keeps its
collectors): a thread sees only its own; :func:`unstaged` writes a block's files at
once, for files that must outlive a failed stage (training checkpoints).
"""

from __future__ import annotations

import errno
import functools
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path


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
