"""Shared pieces of the report: reading metrics files, verdicts, formatting."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..config import num
from ..io import read_csv
from ..metrics import flatten
from ..runs import Run

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


def read_json(path: Path, stage: str) -> Metrics:
    """The metrics file ``path`` of ``stage``; its mappings, nested ones too, name the
    file when a key is missing. Missing or unreadable files name the stage to run."""
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


class Reader:
    """The metrics folder ``root`` as the report's sections read it: a run's files by
    its :class:`~neuralode_repro.runs.Run` (never a path built or parsed by hand), other
    files by name. It records every JSON file it reads, with the stage that writes it,
    in order (:attr:`read`): the report's platforms and wall times come from exactly
    the files of this run's config, never from a file another run left in ``metrics/``.
    One reader per report; passed to each section, so no state outlives the report."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.read: list[tuple[Path, str]] = []

    def json(self, name: str, stage: str) -> Metrics:
        """``root/name`` (e.g. ``mnist/memory.json``), written by ``stage``."""
        path = self.root / name
        self.read.append((path, stage))
        return read_json(path, stage)

    def run(self, run: Run) -> Metrics:
        """One trained run as the report reads it: its evaluation's metrics file over
        what its training summary recorded (the config it ran with;
        :mod:`neuralode_repro.metrics`)."""
        evaluated = run.stage("evaluate")
        paths = [(run.path(k, self.root), run.writer(k)) for k in ("metrics", "summary")]
        self.read += paths
        metrics = read_json(*paths[0])  # first: a missing run names its last stage
        summary = read_json(*paths[1])
        return Metrics({**summary, **metrics}, paths[0][0], evaluated)

    def rows(self, run: Run, kind: str, columns: Iterable[str]) -> list[dict[str, Any]]:
        """The rows of the run's budget-axis CSV ``kind`` (:func:`read_rows`)."""
        return read_rows(run.path(kind, self.root), run.writer(kind), columns)

    def curve(self, run: Run, kind: str, x: str, y: str) -> list[tuple[float, float]]:
        """The (``x``, ``y``) points of the run's CSV ``kind`` (:func:`read_curve`)."""
        return read_curve(run.path(kind, self.root), run.writer(kind), x, y)

    def log_budget(self, run: Run, key: str, points: int) -> list[tuple[float, float]]:
        """The budget axis from the run's training log (:func:`log_budget`)."""
        return log_budget(run.path("log", self.root), run.writer("log"), key, points)

    def convergence(self, runs: Iterable[Run], kind: str, x: str, y: str, delta: float
                    ) -> Convergence:
        """The report's rule (:func:`~neuralode_repro.report.stats.convergence`) on one
        budget-axis CSV ``kind`` per seed."""
        return convergence([self.curve(r, kind, x, y) for r in runs], delta)


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
