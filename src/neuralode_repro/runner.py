"""The one stage runner: params -> resolved config -> tracker -> body -> all-or-nothing
outputs -> summary, with one readable error line at the boundary.

Every stage (``stages/<name>.py``: ``prepare`` and ``parser``) runs as
``runner.main(prepare, parser)``, from ``stages/run.py``. ``prepare`` reads and checks
its config and inputs (a bad value stops the stage before an MLflow run starts) and
returns a :class:`Job`. The runner opens the MLflow run, runs the job's body inside
:func:`neuralode_repro.staging.staged` (its outputs appear all together when it succeeds, and
none remain when it fails), logs the published files, and prints the summary line.

A Python traceback is shown only with ``--debug`` or ``NEURALODE_DEBUG=1``. Ctrl-C
ends a stage with ``interrupted`` (status 130), SIGTERM with ``terminated`` (143): both
unwind the stage, so its staged outputs are removed and its MLflow run ends KILLED.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from neuralode import SolverError

from . import staging
from .config import CommonConfig, ConfigError, load_params, load_section
from .runs import FAMILIES
from .runtime import apply_threads
from .tracking import Tracker, flatten, stage_run

T = TypeVar("T")
# Errors that describe a problem with the user's input, data, disk or dynamics.
USER_ERRORS = (ConfigError, SolverError, OSError, ValueError, FloatingPointError)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the stage is. Python's default would end the process on
    the spot, skipping every ``finally``; as a KeyboardInterrupt it unwinds like Ctrl-C
    (which no ``except Exception`` swallows), and the runner reports it."""


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signal.Signals(signum).name)


@dataclasses.dataclass(frozen=True)
class Context:
    """What ``prepare`` sees: the command line and the loaded params file."""

    args: argparse.Namespace
    params: dict[str, Any]
    common: CommonConfig

    def section(self, cls: type[T], name: str) -> T:
        """The dotted params section ``name`` as a checked, frozen ``cls``."""
        return load_section(cls, name, self.args.params, self.params)


@dataclasses.dataclass
class Result:
    """What a stage body produced: final metrics and files to log after publishing
    (a path, or (path, artifact folder)), a figures folder logged under ``figures/``,
    the summary line, and ``cleanup`` to run once the outputs are published."""

    metrics: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    files: Sequence[Path | tuple[Path, str]] = ()
    figures: Path | None = None
    summary: str = ""
    cleanup: Callable[[], None] | None = None
    model: Any = None  # a trained torch module: logged as this run's MLflow Model


@dataclasses.dataclass
class Job:
    """One stage execution: its MLflow run name, the resolved config it logs as
    params, the body, its seed tag (default ``common.seed``), its torch thread count
    (default ``common.threads``; a stage that measured a better fixed count sets it),
    ``close`` to run afterwards whatever happens (e.g. leave a process group), and
    extra run tags (an evaluation's ``neuralode.train_run_id``)."""

    stage: str
    params: Mapping[str, Any]
    body: Callable[[Tracker], Result]
    seed: int | None = None
    threads: int | None = None
    close: Callable[[], None] | None = None
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)


def main(prepare: Callable[[Context], Job], parser: argparse.ArgumentParser,
         argv: Sequence[str] | None = None) -> None:
    """Run one stage from the command line; exit 1 with ``error: ...`` on a user error."""
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback on errors (or NEURALODE_DEBUG=1)")
    parser.add_argument("--params", default="params.yaml",
                        help="params file (default: %(default)s)")
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("NEURALODE_DEBUG", "") not in ("", "0")
    previous = signal.getsignal(signal.SIGTERM)
    # Python lets only the main thread set a handler (tests may call main from another)
    handles = threading.current_thread() is threading.main_thread()
    if handles:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        execute(prepare, args)
    except USER_ERRORS as err:
        if debug:
            raise
        _release_frames(err)
        print(f"error: {_one_line(err)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as err:
        _release_frames(err)
        terminated = isinstance(err, Terminated)
        print("terminated" if terminated else "interrupted", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM if terminated else 130)
    finally:
        if handles and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def execute(prepare: Callable[[Context], Job], args: argparse.Namespace) -> Result:
    """The stage itself, without the command-line error mapping (tests call this)."""
    params = load_params(args.params)
    common = load_section(CommonConfig, "common", args.params, params)
    job = prepare(Context(args, params, common))
    try:
        apply_threads(common.threads if job.threads is None else job.threads)
        seed = common.seed if job.seed is None else job.seed
        with stage_run(job.stage, common.mlflow_experiment, job.params,
                       profile=common.profile, seed=seed) as tracker:
            tracker.set_tags(job.tags)
            with staging.staged():
                result = job.body(tracker)
            # published: now the files exist under their own names
            tracker.log_results(results_only(result.metrics, job.params), result.files,
                                result.figures)
            if result.model is not None:
                tracker.log_model(result.model)
        if result.cleanup is not None:
            result.cleanup()
        line = result.summary or summary(job.stage, result.metrics)
        if line:
            print(line)
        return result
    finally:
        if job.close is not None:
            job.close()


# A run's file as a stage flag (``--train-log`` for its log) and what it holds
FLAGS = {"log": "--train-log"}
FILE_HELP = {"weights": "the model file", "snapshots": "the weight snapshots of the budget axis",
             "log": "the per-iteration training log (CSV)",
             "summary": "the training summary (JSON)", "metrics": "the metrics JSON",
             "budget": "the budget axis: held-out scores per training snapshot (CSV)",
             "curve": "the learning curve: test error per training snapshot (CSV)",
             "predictions": "the evaluated trajectory (.npz)"}
# folders a figure stage reads the runs of a family from, and writes to
FOLDER_HELP = {"--weights-dir": "folder of the family's model files (data/models/<family>)",
               "--metrics-dir": "folder of the family's metrics and logs (metrics/<family>)",
               "--out": "output folder of the figures"}
AXIS_HELP = {"seed": "the run's training seed", "n_obs": "observations per spiral",
             "width": "the capacity K = M"}


def parser(doc: str | None, *, run: str | None = None, reads: Sequence[str] = (),
           writes: Sequence[str] = (), optional: Sequence[str] = (),
           folders: Sequence[str] = (),
           extra: Mapping[str, str | tuple[str, Mapping[str, Any]]] | None = None
           ) -> argparse.ArgumentParser:
    """A stage's command line, as dvc.yaml's cmd passes it: the matrix values of a run
    of family ``run`` (:mod:`~neuralode_repro.runs`: ``--model``, ``--n-obs``,
    ``--seed``...), the run's files it ``reads`` and ``writes`` by kind (``optional``:
    those a task may not use), the ``folders`` of a figure stage (:data:`FOLDER_HELP`)
    and ``extra`` flags: a help text (a required string) or (help, further
    ``add_argument`` keywords)."""
    p = argparse.ArgumentParser(description=doc)
    for axis in FAMILIES[run].axes if run else ():
        p.add_argument(f"--{axis.replace('_', '-')}", required=True,
                       type=int if axis in ("seed", "n_obs", "width") else str,
                       help=AXIS_HELP.get(axis, f"the run's key (params' matrix: {axis})"))
    for kinds, what in ((reads, "input"), (writes, "output")):
        for kind in kinds:
            p.add_argument(FLAGS.get(kind, f"--{kind}"), required=kind not in optional,
                           help=f"{what}: {FILE_HELP[kind]}")
    for flag in folders:
        p.add_argument(flag, required=True, help=FOLDER_HELP[flag])
    for flag, spec in (extra or {}).items():
        text, kw = (spec, {"required": True}) if isinstance(spec, str) else spec
        p.add_argument(flag, help=text, **kw)
    return p


def results_only(metrics: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The numeric metrics that are results: a key that names a config value (a leaf
    of the logged params, e.g. ``steps``, ``batch_size``, ``seed``) is left to the
    params, where it already is, so MLflow never shows config as a metric."""
    config = {k.rsplit(".", 1)[-1] for k in flatten(params)} | {"seed"}
    return {k: v for k, v in metrics.items() if k not in config
            and isinstance(v, int | float) and not isinstance(v, bool)}


def summary(stage: str, metrics: Mapping[str, Any]) -> str:
    """``stage: key=value, ...`` over the float metrics, for the stage's last line."""
    if not metrics:
        return ""
    return f"{stage}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()
                                    if isinstance(v, float))


def _release_frames(err: BaseException) -> None:
    """Free the failed frames now, so what they hold (an open progress bar redraws
    itself when collected) is finalised before the error line, which stays last."""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        e.__traceback__ = None
        e = e.__cause__ or e.__context__
    gc.collect()
    sys.stderr.flush()


def _one_line(err: BaseException) -> str:
    msg = str(err) or type(err).__name__
    if isinstance(err, OSError) and err.filename and str(err.filename) not in msg:
        msg = f"{msg}: {err.filename}"
    return " ".join(msg.split())
