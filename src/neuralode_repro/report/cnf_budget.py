"""Report part: CNF vs planar NF maximum likelihood along a training budget axis
(iterations, training FLOPs and CPU seconds), from the held-out NLL of each run's
training snapshots.

A final-NLL comparison favours whichever model was given more compute; the budget
axis shows both curves, and the claim compares the CNF's final NLL with the NF's at
the same training cost (its curve interpolated there), paired by seed. The cost is
FLOPs (:mod:`~neuralode_repro.experiments.cost`), which a rerun reproduces exactly;
CPU seconds move with the machine's load and are shown beside them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .blocks import Block, Figure, Para, Table
from .common import INCONCLUSIVE, SMOKE, Claim, fmt
from .stats import combine, interval, order_verdict

KINDS = ("cnf", "nf")
PAPER_NF_ITERATIONS = 500_000  # sec. 4.1: the NF's training iterations (RMSprop)
COLUMNS = ("step", "train_time_s", "train_flops", "test_nll")  # of a budget CSV
Curves = Mapping[tuple[str, str], Sequence[Sequence[Mapping[str, float]]]]


def nll_at(curve: Sequence[Mapping[str, float]], cost: float, key: str) -> float:
    """A model's held-out NLL after ``cost`` of training (``key``: train_flops or
    train_time_s), linear between snapshots; NaN (not measured) before its first
    snapshot or past its last."""
    x = np.array([r[key] for r in curve], dtype=float)
    nll = np.array([r["test_nll"] for r in curve], dtype=float)
    if not len(x) or cost < x[0] or cost > x[-1]:
        return float("nan")
    return float(np.interp(cost, x, nll))


def at_equal_cost(cnf: Sequence[Mapping[str, float]], nf: Sequence[Mapping[str, float]],
                  key: str) -> tuple[float, float]:
    """(CNF NLL, NF NLL) at the larger cost both runs reached: the smaller of their
    final costs, each curve interpolated there (NaN where one was not measured, i.e.
    the other's final cost lies before its first snapshot)."""
    cost = min(cnf[-1][key], nf[-1][key])
    return nll_at(cnf, cost, key), nll_at(nf, cost, key)


def _compare(by: Mapping[str, Sequence[Sequence[Mapping[str, float]]]], key: str
             ) -> tuple[str, str]:
    """Paired by seed at equal ``key``: (the CNF − NF interval, or why it was not
    measured; the verdict on "CNF lower", inconclusive where not measured)."""
    pairs = [at_equal_cost(c, n, key) for c, n in zip(by["cnf"], by["nf"], strict=True)]
    cnf, nf = [p[0] for p in pairs], [p[1] for p in pairs]  # (seeds,)
    if np.isnan(cnf + nf).any():
        short = min(KINDS, key=lambda k: by[k][0][-1][key])
        other = "nf" if short == "cnf" else "cnf"
        return (f"not measured: the {short.upper()} ends at {by[short][0][-1][key]:.3g}, "
                f"before the {other.upper()}'s first snapshot at {by[other][0][0][key]:.3g}",
                INCONCLUSIVE)
    return (interval([a - b for a, b in zip(cnf, nf, strict=True)]).show(2),
            order_verdict(cnf, nf))


def _nf_budget(by: Mapping[str, Sequence[Sequence[Mapping[str, float]]]]) -> str:
    """The NF's budget against the CNF's FLOPs and the paper's 500,000 iterations."""
    nf, cnf = by["nf"][0][-1], by["cnf"][0][-1]
    per_it = nf["train_flops"] / nf["step"]  # the NF's FLOPs per iteration (constant)
    need = cnf["train_flops"] / per_it
    return (f"NF {fmt(int(nf['step']))} iterations ({nf['train_flops']:.3g} FLOPs, "
            f"{nf['train_time_s']:.0f} s); the CNF's FLOPs would take {need:,.0f}; the "
            f"paper trains {fmt(PAPER_NF_ITERATIONS)} ({PAPER_NF_ITERATIONS / nf['step']:.0f}"
            "× ours)")


def part(curves: Curves, figures: Path, root: Path, targets: Sequence[str],
         floors: dict[str, float], smoke: bool) -> tuple[list[Block], list[Claim]]:
    """The budget table and figure, and the equal-training-cost claim; ``curves``:
    (target, kind) -> one budget CSV's rows per seed (the seeds paired)."""
    if not all(curves[key][0] for key in curves):  # budget_points: 0
        return [], []
    rows, verdicts, shown, seconds, budgets = [], [], [], [], []
    for t in targets:
        by = {k: curves[(t, k)] for k in KINDS}
        n = min(len(by[k][0]) for k in KINDS)
        for p in range(n):
            cells = []
            for k in KINDS:
                pts = [run[p] for run in by[k]]  # (seeds,)
                cells += [fmt(int(pts[0]["step"])),
                          f"{interval([r['train_flops'] for r in pts]).mean:.3g}",
                          f"{interval([r['train_time_s'] for r in pts]).mean:.0f}",
                          interval([r["test_nll"] for r in pts]).show(3)]
            rows.append((t, f"{p + 1}/{n}", *cells, fmt(floors[t])))
        text, verdict = _compare(by, "train_flops")
        verdicts.append(verdict)
        shown.append(f"{t} {text}")
        seconds.append(f"{t} {_compare(by, 'train_time_s')[0]}")
        budgets.append(f"{t}: {_nf_budget(by)}")
    blocks: list[Block] = [
        Para("The same comparison along the training budget: held-out NLL (the first "
             "test points, tight solver) of weight snapshots taken at equal fractions of "
             "each run, against its iterations, training FLOPs and CPU seconds so far "
             "(means over seeds; NLL with its interval). FLOPs are counted on one "
             "training iteration's operations, forward and backward (a matrix product "
             "2mkn, an elementwise operation one per element, a reduction one per input "
             "element), and scaled by each step's function evaluations from the training "
             "log: a rerun reproduces them exactly, while seconds move with the machine's "
             "load. The claim below compares the CNF with its NF partner at the larger "
             "FLOPs both reached (each curve interpolated there); the same at equal "
             "seconds is shown beside it. Where one run ends before the other's first "
             "snapshot, the comparison was not measured: inconclusive."),
        Table(("target", "point", "CNF iterations", "CNF FLOPs", "CNF s", "CNF NLL",
               "NF iterations", "NF FLOPs", "NF s", "NF NLL", "floor"), tuple(rows))]
    fig = figures / "cnf" / "ml_budget.png"
    if fig.exists():
        blocks.append(Figure(fig.relative_to(root),
                             "Held-out NLL against training FLOPs (top) and seconds."))
    blocks.append(Para("The NF's budget on the same axis: " + "; ".join(budgets) + ". The "
                       "paper trains the CNF 10,000 iterations and the NF 500,000; it "
                       "names neither Figure 4's three targets nor Figure 5's budget."))
    claim = Claim("CNF lower NLL than a planar NF at equal training cost (budget axis)",
                  "CNF − NF at the larger FLOPs both reached: " + "; ".join(shown)
                  + " (at equal CPU seconds: " + "; ".join(seconds) + ")",
                  SMOKE if smoke else combine(verdicts))
    return blocks, [claim]
