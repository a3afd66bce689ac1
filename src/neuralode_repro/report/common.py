"""Shared pieces of the report: reading metrics files, verdicts, formatting."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..config import num
from ..io import read_csv
from ..metrics import flatten, summary_path

# the verdicts are defined with their rule; the sections and tests import them from here
from .stats import (  # noqa: F401
    INCONCLUSIVE,
    NOT_CONVERGED,
    NOT_REPRODUCED,
    REPRODUCED,
    SMOKE,
    Convergence,
    convergence,
)


class MissingMetricsError(FileNotFoundError):
    """A metrics file the report needs is missing: its stage has not run."""


class MetricsFileError(ValueError):
    """A metrics file that is unreadable or lacks a key the report needs."""


class Metrics(dict):
    """One stage's metrics file; a key it lacks names the file and the stage to rerun
    (a file from older code, or a hand edit), instead of a bare ``KeyError``."""

    def __init__(self, data: dict[str, Any], path: Path, stage: str):
        super().__init__(data)
        self.path, self.stage = path, stage

    def __missing__(self, key: str) -> Any:
        raise MetricsFileError(f"{self.path} has no {key!r}: it was written by other code "
                               f"or edited; rerun its stage: dvc repro -f {self.stage}")


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """``report``: tolerances ε of the verdicts and δ of the convergence rule.

    A claim on trained models is judged only if its runs converged (the rule in
    :data:`~neuralode_repro.report.stats.RULE`, with the δ of its metric); otherwise it
    is "not converged at this profile". A section whose runs trained fewer than
    ``smoke_steps`` optimizer steps (a smoke run, e.g. the tiny profile) issues no
    verdict at all.
    """

    eps_mnist_error_pp: float = num(0.15, gt=0)   # |ours - paper| in percentage points
    eps_rmse: float = num(0.03, gt=0)             # latent ODE predictive RMSE
    eps_memory_flat: float = num(0.10, gt=0)      # "flat" memory: max/min - 1 below this
    delta_mnist_error_pp: float = num(0.075, gt=0)  # convergence: test error, pp
    delta_rmse: float = num(0.015, gt=0)          # convergence: latent predictive RMSE
    delta_nll: float = num(0.02, gt=0)            # convergence: CNF/NF held-out NLL, nats
    delta_toy_mse: float = num(1e-3, gt=0)        # convergence: toy trajectory MSE
    smoke_steps: int = num(100, ge=1)             # fewer optimizer steps: no verdicts


@dataclasses.dataclass(frozen=True)
class Claim:
    """One line of the summary: a claim of the paper, what we measured, a verdict."""

    claim: str
    ours: str
    verdict: str
    convergence: str = "–"  # the rule on its runs (stats.Convergence.show), where trained
    # a quantitative claim, drawn in the summary figure: its panel (a table of the
    # paper), the paper's value and ours, one per seed
    panel: str = ""
    paper: float = math.nan
    values: tuple[float, ...] = ()
    label: str = ""  # its row in the panel
    also: tuple[tuple[str, tuple[float, ...]], ...] = ()  # more rows: (label, values)


# training summaries first: "<name>_train" would also match the evaluation patterns
_STAGE_OF = ((r"toy/(\w+)-s(\d+)_train", r"train_toy@\1-\2"),
             (r"toy/(\w+)-s(\d+)", r"evaluate_toy@\1-\2"),
             (r"latent/(\w+)_n(\d+)-s(\d+)_train", r"train_latent@\1-\2-\3"),
             (r"latent/(\w+)_n(\d+)-s(\d+)", r"evaluate_latent@\1-\2-\3"),
             (r"mnist/memory", "mnist_memory"), (r"mnist/nfe_study", "nfe_study"),
             (r"mnist/(\w+)-s(\d+)_train", r"train_mnist@\1-\2"),
             (r"mnist/(\w+)-s(\d+)", r"evaluate_mnist@\1-\2"),
             (r"cnf/ml/(\w+)_(cnf|nf)-s(\d+)_train", r"train_cnf_ml@\1-\2-\3"),
             (r"cnf/ml/(\w+)_(cnf|nf)-s(\d+)", r"evaluate_cnf_ml@\1-\2-\3"),
             (r"cnf/capacity", "evaluate_cnf_capacity_summary"),
             (r"cnf/capacity/(cnf|nf)_(\d+)-s(\d+)_train", r"train_cnf_capacity@\1-\2-\3"),
             (r"cnf/capacity/(cnf|nf)_(\d+)-s(\d+)", r"evaluate_cnf_capacity@\1-\2-\3"))


def stage_of(name: str) -> str:
    """The DVC stage that writes ``metrics/<name>.json`` (``name`` without suffix)."""
    for pattern, stage in _STAGE_OF:
        if re.fullmatch(pattern, name):
            return re.sub(pattern, stage, name)
    return "<its stage>"


_read: list[Path] | None = None


@contextmanager
def recording() -> Iterator[list[Path]]:
    """The metrics files :func:`read_json` opens meanwhile, in order. The sections name
    their files from this run's config, so these are the run's own files: a file another
    run left in ``metrics/`` (an older seed list, another profile) is never among them."""
    global _read
    outer, _read = _read, []
    try:
        yield _read
    finally:
        _read = outer


def read_json(path: Path, stage: str) -> Metrics:
    """The metrics file ``path`` of ``stage``; its mappings, nested ones too, name the
    file when a key is missing. Missing or unreadable files name the stage to run."""
    if _read is not None:
        _read.append(path)
    if not path.exists():
        raise MissingMetricsError(f"{path} is missing: stage '{stage}' must run first "
                                  f"(dvc repro {stage})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"),
                          object_hook=lambda d: Metrics(d, path, stage))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MetricsFileError(f"{path} is not valid JSON ({err}); it is truncated or "
                               f"corrupt: rerun its stage: dvc repro -f {stage}") from None
    return Metrics(flatten(data), path, stage) if isinstance(data, dict) else data


def read_rows(path: Path, stage: str, columns: Iterable[str]) -> list[dict[str, Any]]:
    """The rows of a budget-axis CSV of ``stage`` (a learning curve, a budget file), in
    file order; a missing file, or a missing one of ``columns``, names the stage to rerun."""
    if not path.exists():
        raise MissingMetricsError(f"{path} is missing: stage '{stage}' must run first "
                                  f"(dvc repro {stage})")
    rows = read_csv(path)
    lacking = [c for c in columns if rows and c not in rows[0]]
    if lacking:
        raise MetricsFileError(f"{path} has no column {', '.join(map(repr, lacking))} (it "
                               f"has {', '.join(rows[0])}): it was written by other code; "
                               f"rerun its stage: dvc repro -f {stage}")
    return rows


def read_curve(path: Path, stage: str, x: str, y: str) -> list[tuple[float, float]]:
    """The (``x``, ``y``) points of a budget-axis CSV of ``stage`` (:func:`read_rows`)."""
    return [(float(r[x]), float(r[y])) for r in read_rows(path, stage, (x, y))]


def log_budget(path: Path, stage: str, key: str, points: int) -> list[tuple[float, float]]:
    """A budget axis from a training log (a row per iteration with ``step`` and
    ``key``), for runs that draw fresh samples at every iteration (density matching):
    there each iteration's loss is an unbiased estimate of the objective at that
    iteration's weights, so the log cut into ``points`` equal consecutive windows gives
    (the window's last step, its mean) without held-out data; a log of fewer iterations
    (a smoke run) gives one point per iteration."""
    rows = read_rows(path, stage, ("step", key))
    if not rows:
        raise MetricsFileError(f"{path} has no iterations; rerun its stage: dvc repro -f "
                               f"{stage}")
    points = min(points, len(rows))
    edges = [round(len(rows) * k / points) for k in range(points + 1)]
    return [(float(rows[b - 1]["step"]),
             sum(float(r[key]) for r in rows[a:b]) / (b - a))
            for a, b in zip(edges, edges[1:], strict=False)]


def seeds_convergence(files: Iterable[tuple[Path, str]], x: str, y: str, delta: float
                      ) -> Convergence:
    """The report's rule (:func:`~neuralode_repro.report.stats.convergence`) on one
    budget-axis CSV per seed, each given as (path, the stage that writes it)."""
    return convergence([read_curve(path, stage, x, y) for path, stage in files], delta)


def read_run(path: Path, stage: str) -> Metrics:
    """One trained run as the report reads it: the evaluation's metrics file ``path``
    of ``stage`` (evaluate_*) over what its training stage recorded in
    ``<name>_train.json`` (the config it ran with; :mod:`neuralode_repro.metrics`)."""
    metrics = read_json(path, stage)  # first: a missing run names its last stage
    summary = read_json(summary_path(path), stage.replace("evaluate_", "train_", 1))
    return Metrics({**summary, **metrics}, path, stage)


def trained_steps(m: dict[str, Any]) -> int:
    """Optimizer steps of one run's metrics: ``iterations`` (latent), ``steps`` (toy,
    CNF) or ``epochs`` x ``steps_per_epoch`` (MNIST)."""
    for key in ("iterations", "steps"):
        if key in m:
            return int(m[key])
    return int(m["epochs"]) * int(m["steps_per_epoch"])


def is_smoke(runs: list[dict[str, Any]], cfg: ReportConfig) -> bool:
    """Whether any of a section's runs trained below the smoke floor."""
    return min(trained_steps(m) for m in runs) < cfg.smoke_steps


def ordering_verdict(holds: bool, smoke: bool = False) -> str:
    """A measured property (not a comparison over seeds): holds or not."""
    if smoke:
        return SMOKE
    return REPRODUCED if holds else NOT_REPRODUCED


def fmt(x: Any, digits: int = 3) -> str:
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
            return f"{x:.{digits - 1}e}"
        return f"{x:.{digits}g}"
    return str(x)
