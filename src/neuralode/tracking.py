"""MLflow tracking: one run per DVC stage execution.

Each run carries tags (git commit, stage, profile, seed, reproduction id), the
stage's resolved params, per-step and final metrics, figures and metrics files as
artifacts and the trained model's state dict. Tracking never loses results: when
the store cannot be reached, the stage warns once and carries on (its metrics files
are written by the stage whatever happens here).

Store: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<repo root>/mlflow.db``; the
repo root is ``DVC_ROOT`` when DVC sets it (mapped back out of ``.dvc/tmp/exps``
temp workspaces, so queued experiments share one store).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from . import distributed

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# An unreachable server should cost seconds, not minutes of retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")

_FLUSH_EVERY = 200  # buffered per-step metrics are sent in batches


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


RUN_OUTPUTS = ("dvc.lock", "metrics", "reports")


def git_commit(root: Path | None = None) -> str:
    """HEAD's hash, with ``-dirty`` if tracked code or params changed; ``unknown``
    outside git. What a run itself rewrites (dvc.lock, metrics/, reports/) does not
    count: a report made by ``dvc repro`` on a clean checkout names a clean commit."""
    cwd = root or repo_root()
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no",
                                "--", ".", *(f":(exclude){p}" for p in RUN_OUTPUTS)],
                               cwd=cwd, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}, for MLflow params."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


class Tracker:
    """A best-effort MLflow run. Every method is a no-op once tracking has failed."""

    def __init__(self, stage: str, experiment: str, tags: Mapping[str, str]):
        self.stage, self.experiment, self.tags = stage, experiment, dict(tags)
        self.enabled = True
        self._buffer: list[Any] = []
        self._mlflow: Any = None
        self.run_id: str | None = None

    def _fail(self, what: str, err: BaseException) -> None:
        if self.enabled:
            warnings.warn(f"MLflow tracking disabled for stage {self.stage} ({what} failed "
                          f"against {tracking_uri()}: {type(err).__name__}: {err}). Results "
                          "are still written to metrics/ and reports/.", stacklevel=3)
        self.enabled = False

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.enabled:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - any backend failure is a warning, by design
            self._fail(what, err)
            return None

    def start(self) -> None:
        def _start() -> None:
            import mlflow

            mlflow.set_tracking_uri(tracking_uri())
            mlflow.set_experiment(self.experiment)
            run = mlflow.start_run(run_name=self.stage, tags=self.tags)
            self._mlflow, self.run_id = mlflow, run.info.run_id

        self._call("start_run", _start)

    def log_params(self, params: Mapping[str, Any]) -> None:
        flat = {k: str(v)[:6000] for k, v in flatten(params).items()}
        self._call("log_params", lambda: self._mlflow.log_params(flat))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Buffer numeric metrics; they are sent in batches."""
        if not self.enabled:
            return
        from mlflow.entities import Metric

        ts = _now_ms()
        for k, v in metrics.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                self._buffer.append(Metric(k, float(v), ts, step or 0))
        if len(self._buffer) >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self._buffer or not self.enabled:
            return
        batch, self._buffer = self._buffer, []

        def _send() -> None:
            client = self._mlflow.MlflowClient()
            for i in range(0, len(batch), 1000):
                client.log_batch(self.run_id, metrics=batch[i:i + 1000])

        self._call("log_batch", _send)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._call("log_artifact", lambda: self._mlflow.log_artifact(str(path), artifact_path))

    def log_results(self, metrics: Mapping[str, Any], files: Iterable[Path] = (),
                    figures: Path | None = None, files_path: str | None = None) -> None:
        """A stage's final numeric metrics, its metrics files and every figure in
        ``figures`` (under ``figures/``)."""
        self.log_metrics(metrics)
        for path in files:
            self.log_artifact(path, files_path)
        if figures is not None and figures.is_dir():
            for fig in sorted(figures.iterdir()):
                self.log_artifact(fig, "figures")

    def log_state_dict(self, model: torch.nn.Module, name: str = "model.pt") -> None:
        """The trained model's ``state_dict`` as an artifact under ``model/``."""
        if not self.enabled:
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            torch.save(model.state_dict(), path)
            self.log_artifact(path, "model")

    def end(self, status: str = "FINISHED") -> None:
        self.flush()
        self._call("end_run", lambda: self._mlflow.end_run(status=status))


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


@contextmanager
def stage_run(stage: str, experiment: str, params: Mapping[str, Any], *, profile: str,
              seed: int) -> Iterator[Tracker]:
    """An MLflow run around a stage body; marked FAILED if the body raises."""
    tags = {"stage": stage, "profile": profile, "seed": str(seed),
            "git_commit": git_commit(),
            "reproduction": os.environ.get("NEURALODE_REPRO_ID") or f"adhoc-{git_commit()[:12]}",
            "dvc_exp": os.environ.get("DVC_EXP_NAME", "")}
    tracker = Tracker(stage, experiment, tags)
    if not distributed.is_main():  # under torchrun, rank 0 alone records the run
        tracker.enabled = False
        yield tracker
        return
    tracker.start()
    tracker.log_params(params)
    try:
        yield tracker
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.end("FINISHED")
