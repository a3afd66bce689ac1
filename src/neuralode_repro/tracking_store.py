"""Where the MLflow store is, and the settings MLflow runs with.

Store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<repo root>/mlflow.db``; the
repo root is ``DVC_ROOT`` when DVC sets it (mapped back out of ``.dvc/tmp/exps``
temp workspaces, so queued experiments share one store). The runs themselves:
:mod:`neuralode_repro.tracking`.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path
from urllib.parse import unquote

# MLflow's environment variables, each a default that the user's own value overrides.
# No telemetry; and an unreachable server costs seconds, not minutes of retries.
MLFLOW_SETTINGS = {"MLFLOW_DISABLE_TELEMETRY": "true",
                   "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                   "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def use_mlflow_settings(env: MutableMapping[str, str] | None = None
                        ) -> MutableMapping[str, str]:
    """Put :data:`MLFLOW_SETTINGS` into ``env`` (default: this process's environment)
    where it has no value of its own, and return it. Called where a tracker is set
    up, never at import: MLflow 3 reads ``MLFLOW_DISABLE_TELEMETRY`` when it is first
    imported (``mlflow/__init__`` starts its telemetry client then) and again per
    event, and the HTTP retries and timeout per request, so they must be in the
    environment before the first ``import mlflow``. For a child process (the
    ``mlflow ui`` server), pass a copy: ``use_mlflow_settings(dict(os.environ))``."""
    env = os.environ if env is None else env
    for key, value in MLFLOW_SETTINGS.items():
        env.setdefault(key, value)
    return env


def repo_root() -> Path:
    """The repository root, seen from a stage (DVC_ROOT) or from anywhere inside it."""
    root = Path(os.environ.get("DVC_ROOT") or _find_up(Path.cwd())).resolve()
    parts = root.parts
    for i in range(len(parts) - 2):
        if parts[i:i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return root


def _find_up(start: Path) -> Path:
    for d in (start, *start.parents):
        if (d / "dvc.yaml").exists() or (d / ".dvc").is_dir():
            return d
    return start


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` store (SQLAlchemy's form: three slashes,
    then the path, so an absolute one has four; URL-escapes decoded); None for a
    server."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(unquote(uri.removeprefix("sqlite:///")))


def artifact_root(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: ``mlruns/`` beside an SQLite store.
    MLflow's default is ``./mlruns`` of the process that creates the experiment, which
    is lost when that is a DVC temporary workspace, and lands in the repository when a
    test points the store at a temporary folder. A server (None) decides for itself."""
    db = sqlite_path(uri)
    return None if db is None else (db.parent / "mlruns").resolve().as_uri()


def check_writable(uri: str) -> None:
    """A read-only SQLite store fails here at once, instead of after MLflow's retries
    (sqlite writes a journal beside the file, so its folder must be writable too)."""
    path = sqlite_path(uri)
    if path is None:
        return
    for target in (path, path.parent) if path.exists() else (path.parent,):
        if target.exists() and not os.access(target, os.W_OK):
            raise PermissionError(f"{target} is read-only; point MLFLOW_TRACKING_URI at a "
                                  "writable store")
