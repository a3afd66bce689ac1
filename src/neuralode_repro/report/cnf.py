"""Report section: continuous vs planar normalizing flows (paper sec. 4, Figs. 4-5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..runs import cnf as cnf_run
from . import cnf_budget, provenance
from .blocks import Block, Figure, Heading, Para, Table
from .common import SMOKE, Claim, Reader, ReportConfig, fmt, is_smoke
from .paper import CNF_CLAIM
from .stats import combine, convergence, gated, interval, order_verdict

TARGETS = ("two_moons", "two_circles")
CAPACITY_POINTS = 8  # windows of a capacity run's training log (its budget axis)


def _figures(folder: Path, root: Path, caption: str) -> list[Block]:
    return [Figure(p.relative_to(root), f"{caption} ({p.stem.replace('_', ' ')}).")
            for p in sorted(folder.glob("*.png"))] if folder.is_dir() else []


def _values(train: Any, ev: Any) -> dict[str, Any]:
    """The CNF provenance fields from this run's config."""
    targets, ml = train.ml.targets, train.ml
    moons, circles = targets.get("two_moons"), targets.get("two_circles")
    model = ml.cnf.model
    return {"moons_noise": moons.noise if moons else "–",
            "circles_noise": circles.noise if circles else "–",
            "factor": circles.factor if circles else "–", "M": model.width,
            "hidden": model.hidden, "t1": model.t1, "base_std": model.base_std,
            "units": model.units, "gate": model.gate, "K": ml.nf.model.width,
            "cnf_steps": f"{ml.cnf.steps:,}", "nf_steps": f"{ml.nf.steps:,}",
            "cap_target": train.capacity.target.name,
            "widths": "{" + ", ".join(map(str, train.capacity.widths)) + "}",
            "eval_tol": ev.ml.solver.rtol}


def _seeds(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


def _paired(a: list[float], b: list[float]) -> list[float]:
    return [x - y for x, y in zip(a, b, strict=True)]  # (seeds,)


def section(metrics: Reader, figures: Path, root: Path, cfg: ReportConfig,
            seeds: tuple[int, ...] = (0,), train: Any = None, ev: Any = None
            ) -> tuple[list[Block], list[Claim]]:
    """Figs. 4-5 from the runs params declare: every target x model x seed (ml) and
    model x width x seed (capacity); CNF and NF are paired by seed. With the run's
    ``train`` and ``ev`` (CNFTrainConfig, CNFEvalConfig): where each setting comes from."""
    # the paper gives no CNF numbers to hold ours to; the claims are orderings
    blocks: list[Block] = [Heading("Continuous normalizing flows (sec. 4)")]
    ml = {(t, k, s): metrics.run(cnf_run("ml", k, s, target=t))
          for t in TARGETS for k in ("cnf", "nf") for s in seeds}
    cap = metrics.json("cnf/capacity.json", "evaluate_cnf_capacity_summary")
    cap_runs = [metrics.run(cnf_run("capacity", k, s, width=int(w)))
                for k in ("cnf", "nf") for w in cap["kl_cnf"] for s in seeds]
    smoke = is_smoke(list(ml.values()) + cap_runs, cfg)
    curves = {(t, k): [metrics.rows(cnf_run("ml", k, s, target=t), "budget",
                                    cnf_budget.COLUMNS)
                       for s in seeds] for t in TARGETS for k in ("cnf", "nf")}
    conv = {key: convergence([[(r["step"], r["test_nll"]) for r in run] for run in runs],
                             cfg.delta_nll) for key, runs in curves.items()}
    unconverged = [f"{t} {k.upper()}" for (t, k), c in conv.items() if not c.converged]
    floors = {t: interval([ml[(t, "cnf", s)]["true_nll"] for s in seeds]).mean
              for t in TARGETS}  # the true density's NLL of the test points
    rows, ml_verdicts, ml_lower = [], [], 0
    for t in TARGETS:
        nll = {k: [ml[(t, k, s)]["test_nll"] for s in seeds] for k in ("cnf", "nf")}
        diff = interval(_paired(nll["cnf"], nll["nf"]))
        verdict = SMOKE if smoke else gated(order_verdict(nll["cnf"], nll["nf"]),
                                            conv[(t, "cnf")], conv[(t, "nf")])
        ml_verdicts.append(verdict)
        ml_lower += int(diff.mean < 0)
        one = {k: ml[(t, k, seeds[0])] for k in ("cnf", "nf")}
        times = {k: interval([ml[(t, k, s)]["train_time_s"] for s in seeds]).mean
                 for k in ("cnf", "nf")}
        rows.append((t, interval(nll["cnf"]).show(3), interval(nll["nf"]).show(3),
                     diff.show(2), fmt(floors[t]), fmt(one["cnf"]["steps"]),
                     fmt(one["nf"]["steps"]), f"{times['cnf']:.0f} / {times['nf']:.0f}",
                     conv[(t, "cnf")].show(), conv[(t, "nf")].show(), verdict))
    blocks += [
        Para("Maximum likelihood on samples from two 2-D targets (paper Fig. 5): held-out "
             "negative log-likelihood in nats (lower is better), CNF with M = 64 hidden "
             "units against a planar NF with K = 64 layers, over "
             f"{_seeds(len(seeds))}; CNF − NF is paired by seed (same test points). The "
             "floor is the test points' NLL under the true density (an estimate of its "
             "entropy): no model can go below it on average. The paper shows these as "
             "figures only, without numbers."),
        Table(("target", "CNF NLL", "NF NLL", "CNF − NF", "floor", "CNF iterations",
               "NF iterations", "training time CNF / NF (s, mean)",
               "CNF convergence (iterations)", "NF convergence (iterations)", "CNF lower"),
              tuple(rows))]
    budget_blocks, budget_claims = cnf_budget.part(curves, figures, root, TARGETS, floors,
                                                   smoke)
    blocks += budget_blocks
    for t in TARGETS:
        for kind in ("cnf", "nf"):
            blocks += _figures(figures / "cnf" / f"ml_{t}_{kind}", root,
                               f"{t}, {kind.upper()}, seed {seeds[0]}")
    # the summary's KL, keyed by width (JSON sorts its keys as text: "2", "32", "8")
    widths = sorted(cap["kl_cnf"], key=int)
    # each capacity iteration draws fresh base samples: its logged KL (minus log Z) is
    # an unbiased estimate at its weights, so the log is the budget axis
    cap_conv = {(k, w): convergence(
        [metrics.log_budget(cnf_run("capacity", k, s, width=int(w)), "kl", CAPACITY_POINTS)
         for s in seeds], cfg.delta_nll) for k in ("cnf", "nf") for w in widths}
    by_width, cap_rows = [], []
    for w in widths:
        kl = {k: list(cap[f"kl_{k}"][w]) for k in ("cnf", "nf")}  # (seeds,)
        verdict = SMOKE if smoke else gated(order_verdict(kl["cnf"], kl["nf"]),
                                            cap_conv[("cnf", w)], cap_conv[("nf", w)])
        by_width.append(verdict)
        cap_rows.append((w, interval(kl["cnf"]).show(3), interval(kl["nf"]).show(3),
                         interval(_paired(kl["cnf"], kl["nf"])).show(2),
                         cap_conv[("cnf", w)].show(), cap_conv[("nf", w)].show(), verdict))
    cap_unconverged = [f"{k.upper()} at {w}" for (k, w), c in cap_conv.items()
                       if not c.converged]
    blocks += [
        Para(f"Density matching (paper Fig. 4): minimise KL(q‖p) toward the analytic "
             f"density {cap_runs[0]['target']} at capacity K = M; final KL in nats (lower is "
             f"better), over {_seeds(len(seeds))}, CNF − NF paired by seed. Convergence "
             f"from the training log: every iteration draws fresh base samples, so its "
             f"logged KL (minus log Z) estimates the objective at its weights without "
             f"bias; the log is cut into {CAPACITY_POINTS} equal windows, each averaged, "
             f"and the rule reads the move from the window ending at half the run to "
             f"the last (δ = {cfg.delta_nll} nats)."),
        Table(("K = M", "CNF KL", "NF KL", "CNF − NF", "CNF convergence (iterations)",
               "NF convergence (iterations)", "CNF lower"), tuple(cap_rows)),
    ]
    blocks += _figures(figures / "cnf" / "capacity", root, "Capacity")
    if train is not None and ev is not None:
        blocks += provenance.table(provenance.CNF, _values(train, ev))
    lower = int(cap["cnf_lower_count"])
    claims = [Claim(CNF_CLAIM, f"CNF lower on average at {lower} of {len(widths)} "
                               f"capacities ({_seeds(len(seeds))}), on "
                               f"{cap_runs[0]['target']}: the paper does not name "
                               "Figure 4's three targets",
                    SMOKE if smoke else combine(by_width, "majority"),
                    f"not converged: {', '.join(cap_unconverged)}" if cap_unconverged
                    else "all converged"),
              Claim("CNF fits the Fig. 5 targets at least as well as a planar NF "
                    "(shown qualitatively in the paper)",
                    f"CNF lower NLL on average on {ml_lower} of {len(TARGETS)} targets "
                    f"({_seeds(len(seeds))}); the paper does not state Figure 5's "
                    "training budget",
                    SMOKE if smoke else combine(ml_verdicts),
                    f"not converged: {', '.join(unconverged)}" if unconverged
                    else "all converged"), *budget_claims]
    return blocks, claims
