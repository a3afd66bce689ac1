"""Report part: CNF vs planar NF maximum likelihood along a training budget axis
(iterations and CPU seconds), from the held-out NLL of each run's training snapshots.

A final-NLL comparison favours whichever model was given more compute; the budget
axis shows both curves, and the claim compares the CNF's final NLL with the NF's at
the same training time (its curve interpolated there), paired by seed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io import read_csv
from .blocks import Block, Figure, Para, Table
from .common import SMOKE, Claim, MissingMetricsError, fmt
from .stats import combine, interval, order_verdict

KINDS = ("cnf", "nf")


def _curve(metrics: Path, target: str, kind: str, seed: int) -> list[dict]:
    path = metrics / "cnf" / "ml" / f"{target}_{kind}-s{seed}_budget.csv"
    if not path.exists():
        stage = f"evaluate_cnf_ml@{target}-{kind}-{seed}"
        raise MissingMetricsError(f"{path} is missing: stage '{stage}' must run first "
                                  f"(dvc repro {stage})")
    return read_csv(path)


def nf_at(curve: Sequence[dict], seconds: float) -> float:
    """The NF's held-out NLL after ``seconds`` of training, linear between snapshots;
    past its last snapshot, its final NLL (it had less compute); before its first, NaN
    (not measured)."""
    t = np.array([r["train_time_s"] for r in curve], dtype=float)
    nll = np.array([r["test_nll"] for r in curve], dtype=float)
    if not len(t) or seconds < t[0]:
        return float("nan")
    return float(np.interp(seconds, t, nll))


def part(metrics: Path, figures: Path, root: Path, targets: Sequence[str],
         seeds: Sequence[int], floors: dict[str, float], smoke: bool
         ) -> tuple[list[Block], list[Claim]]:
    """The budget table and figure, and the equal-training-time claim."""
    curves = {(t, k): [_curve(metrics, t, k, s) for s in seeds] for t in targets for k in KINDS}
    if not all(curves[key][0] for key in curves):  # budget_points: 0
        return [], []
    rows, verdicts, shown = [], [], []
    for t in targets:
        by = {k: curves[(t, k)] for k in KINDS}
        n = min(len(by[k][0]) for k in KINDS)
        for p in range(n):
            cells = []
            for k in KINDS:
                pts = [run[p] for run in by[k]]  # (seeds,)
                cells += [fmt(int(pts[0]["step"])),
                          f"{interval([r['train_time_s'] for r in pts]).mean:.0f}",
                          interval([r["test_nll"] for r in pts]).show(3)]
            rows.append((t, f"{p + 1}/{n}", *cells, fmt(floors[t])))
        cnf_final = [run[-1]["test_nll"] for run in by["cnf"]]  # (seeds,)
        nf_same = [nf_at(nf, c[-1]["train_time_s"]) for c, nf in zip(by["cnf"], by["nf"],
                                                                     strict=True)]
        verdicts.append(order_verdict(cnf_final, nf_same))
        diffs = [a - b for a, b in zip(cnf_final, nf_same, strict=True)]
        shown.append(f"{t} {interval(diffs).show(2)}")
    blocks: list[Block] = [
        Para("The same comparison along the training budget: held-out NLL (the first "
             "test points, tight solver) of weight snapshots taken at equal fractions of "
             "each run, against its iterations and CPU seconds so far (means over seeds; "
             "NLL with its interval). The claim below compares each CNF's final NLL with "
             "its NF partner's at the same training time (the NF curve interpolated)."),
        Table(("target", "point", "CNF iterations", "CNF s", "CNF NLL", "NF iterations",
               "NF s", "NF NLL", "floor"), tuple(rows))]
    fig = figures / "cnf" / "ml_budget.png"
    if fig.exists():
        blocks.append(Figure(fig.relative_to(root), "Held-out NLL against training time."))
    claim = Claim("CNF lower NLL than a planar NF at equal training time (budget axis)",
                  "CNF final − NF at the CNF's training time: " + "; ".join(shown),
                  SMOKE if smoke else combine(verdicts))
    return blocks, [claim]
