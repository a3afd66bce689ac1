"""MLflow tracking: one run per DVC stage execution.

Each run carries tags (git commit, stage, profile, seed, reproduction id), the
stage's resolved config as params (every default filled in), per-step and final
metrics (results only: a config value is a param, never a metric), figures and
metrics files as artifacts, and, for a training stage, the trained model as an MLflow
Model. An evaluation or figure run carries its training run's id as the tag
``neuralode.train_run_id``, so ``tags.`neuralode.train_run_id` = '<id>'`` finds the
test metrics of a model from its training run. The experiment's kind is set to model
training (``mlflow.experimentKind``); the UI still needs its URL parameter to open on
the runs (:mod:`neuralode_repro.ui`).
Tracking never loses results: when the store cannot be reached, the stage warns once
and carries on (its metrics files are written by the stage whatever happens here).
Runs end FAILED when their stage fails, and a run left RUNNING by a killed process is
marked KILLED by the next execution of its stage on the same host.

Where the store is, and MLflow's settings: :mod:`neuralode_repro.tracking_store`.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from . import distributed
from .tracking_store import (
    artifact_root,
    check_writable,
    repo_root,
    tracking_uri,
    use_mlflow_settings,
)

_FLUSH_EVERY = 200  # buffered per-step metrics are sent in batches


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
    """A best-effort MLflow run, through ``MlflowClient`` (no global active run, so
    MLflow's exit hook can never mark a failed stage FINISHED). Every method is a
    no-op once tracking has failed, except :meth:`end`, which still tries to record
    the run's final status."""

    def __init__(self, stage: str, experiment: str, tags: Mapping[str, str]):
        use_mlflow_settings()  # before anything here imports mlflow
        self.stage, self.experiment, self.tags = stage, experiment, dict(tags)
        self.enabled = True
        self._buffer: list[Any] = []
        self._client: Any = None
        self.run_id: str | None = None

    def _fail(self, what: str, err: BaseException) -> None:
        if self.enabled:  # one line, once: the stage's results matter more than this
            print(f"warning: MLflow tracking disabled for stage {self.stage} ({what} failed "
                  f"against {tracking_uri()}: {type(err).__name__}: {_gist(err)}). Results "
                  "are still written to metrics/ and reports/.", file=sys.stderr, flush=True)
        self.enabled = False

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.enabled:
            return None
        try:
            with _quiet_mlflow():
                return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - any backend failure is a warning, by design
            self._fail(what, err)
            return None

    def start(self) -> None:
        def _start() -> None:
            from mlflow import MlflowClient

            check_writable(tracking_uri())
            client = MlflowClient(tracking_uri())
            exp = client.get_experiment_by_name(self.experiment)
            exp_id = exp.experiment_id if exp else client.create_experiment(
                self.experiment, artifact_location=artifact_root(tracking_uri()))
            if exp is None or exp.tags.get(KIND_TAG) != KIND:
                # these are model-training runs; MLflow 3.17's UI still opens its GenAI
                # view unless the URL asks for this kind (ui.py), so the tag alone is
                # not enough, but the UI's experiment list and search read it
                client.set_experiment_tag(exp_id, KIND_TAG, KIND)
            _mark_killed(client, exp_id, self.stage)
            tags = {**self.tags, HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
            run = client.create_run(exp_id, run_name=self.stage, tags=tags)
            self._client, self.run_id = client, run.info.run_id

        self._call("start_run", _start)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat = [Param(k, str(v)[:6000]) for k, v in flatten(params).items()]

        def _send() -> None:
            for i in range(0, len(flat), 100):
                self._client.log_batch(self.run_id, params=flat[i:i + 100])

        self._call("log_params", _send)

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
            for i in range(0, len(batch), 1000):
                self._client.log_batch(self.run_id, metrics=batch[i:i + 1000])

        self._call("log_batch", _send)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._call("log_artifact",
                   lambda: self._client.log_artifact(self.run_id, str(path), artifact_path))

    def log_results(self, metrics: Mapping[str, Any], files: Iterable[Path | tuple[Path, str]]
                    = (), figures: Path | None = None) -> None:
        """A stage's final numeric metrics, its files (a path, or (path, artifact
        folder)) and every figure in ``figures`` (under ``figures/``)."""
        self.log_metrics(metrics)
        for item in files:
            path, folder = item if isinstance(item, tuple) else (item, None)
            self.log_artifact(path, folder)
        if figures is not None and figures.is_dir():
            for fig in sorted(figures.iterdir()):
                self.log_artifact(fig, "figures")

    def log_model(self, model: torch.nn.Module, name: str = "model") -> str | None:
        """``model`` as an MLflow Model of this run (MLflow 3's logged model: the UI's
        "Logged models"); ``mlflow.pytorch.load_model(f"runs:/{run_id}/{name}")`` or
        ``"models:/<model_id>"`` gives it back, working. Returns the model id.

        Pickled (MLflow's ``pt2`` format traces the graph, which an adaptive ODE solve
        does not have), so loading it needs this package installed."""
        def _log() -> str:
            import mlflow
            import mlflow.pytorch

            mlflow.set_tracking_uri(tracking_uri())
            with mlflow.start_run(run_id=self.run_id):
                info = mlflow.pytorch.log_model(
                    model, name=name, serialization_format="pickle",
                    pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])
            return info.model_id

        return self._call("log_model", _log)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._call("set_tag", lambda: [self._client.set_tag(self.run_id, k, v)
                                       for k, v in tags.items()])

    def end(self, status: str = "FINISHED") -> None:
        """Flush and record ``status``; tried even after a tracking failure, so a run
        that started is never left RUNNING by a failure that tracking saw first."""
        self.flush()
        if self._client is None or self.run_id is None:
            return
        try:
            with _quiet_mlflow():
                self._client.set_terminated(self.run_id, status)
        except Exception as err:  # noqa: BLE001 - a warning, as every tracking failure
            self._fail("set_terminated", err)


HOST_TAG, PID_TAG = "neuralode.host", "neuralode.pid"
# the training run an evaluation or figure run read its model from (see artifacts.py)
TRAIN_RUN_TAG = "neuralode.train_run_id"
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"


def _mark_killed(client: Any, exp_id: str, stage: str) -> None:
    """Runs of ``stage`` left RUNNING by a process of this host that no longer exists
    (killed: SIGKILL, OOM, power) are marked KILLED, MLflow's status for that."""
    host = socket.gethostname()
    runs = client.search_runs([exp_id], filter_string=f"tags.stage = '{stage}' and "
                              "attributes.status = 'RUNNING'", max_results=1000)
    for run in runs:
        tags = run.data.tags
        if tags.get(HOST_TAG) == host and not _alive(tags.get(PID_TAG, "")):
            client.set_terminated(run.info.run_id, "KILLED")


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Silence MLflow's and its database layers' own logging during one call: a failure
    is reported once, by :meth:`Tracker._fail`, not as pages of tracebacks."""
    import mlflow  # noqa: F401 - its import configures its loggers; do that first

    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic", "sqlalchemy")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _gist(err: BaseException) -> str:
    """The line of a backend error that says what went wrong, without SQLAlchemy's
    statement, parameters and hints."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("[", "(raised as", "(Background"))]
    return (useful or lines or [""])[0][:300]


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


@contextmanager
def stage_run(stage: str, experiment: str, params: Mapping[str, Any], *, profile: str,
              seed: int) -> Iterator[Tracker]:
    """An MLflow run around a stage body; marked FAILED if the body raises."""
    commit = git_commit()
    tags = {"stage": stage, "profile": profile, "seed": str(seed), "git_commit": commit,
            "reproduction": os.environ.get("NEURALODE_REPRO_ID") or f"adhoc-{commit[:12]}",
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
    except BaseException as err:
        tracker.end("KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
        raise
    tracker.end("FINISHED")
