"""Shared pieces of the report: reading metrics files, verdicts, formatting."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from ..config import num

REPRODUCED, NOT_REPRODUCED, NOT_COMPARABLE = (
    "reproduced", "not reproduced", "not comparable at this profile")


class MissingMetricsError(FileNotFoundError):
    """A metrics file the report needs is missing: its stage has not run."""


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """``report``: tolerances of the verdicts and when a number is comparable.

    A quick CPU profile trains far less than the paper; its numbers are then marked
    "not comparable at this profile" instead of being judged against the paper's.
    """

    eps_mnist_error_pp: float = num(0.15, gt=0)   # |ours - paper| in percentage points
    eps_rmse: float = num(0.03, gt=0)             # latent ODE predictive RMSE
    eps_memory_flat: float = num(0.10, gt=0)      # "flat" memory: max/min - 1 below this
    mnist_comparable_epochs: int = num(100, ge=1)
    latent_comparable_passes: int = num(1_600_000, ge=1)  # iterations x batch size


@dataclasses.dataclass(frozen=True)
class Claim:
    """One line of the summary: a claim of the paper, what we measured, a verdict."""

    claim: str
    ours: str
    verdict: str


def read_json(path: Path, stage: str) -> dict[str, Any]:
    if not path.exists():
        raise MissingMetricsError(f"{path} is missing: stage '{stage}' must run first "
                                  f"(dvc repro {stage})")
    return json.loads(path.read_text())


def numeric_verdict(ours: float, paper: float, eps: float, comparable: bool) -> str:
    if not comparable:
        return NOT_COMPARABLE
    if not math.isfinite(ours):
        return NOT_REPRODUCED
    return REPRODUCED if abs(ours - paper) <= eps else NOT_REPRODUCED


def ordering_verdict(holds: bool) -> str:
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
