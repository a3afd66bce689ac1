"""Report section: continuous vs planar normalizing flows (paper sec. 4, Figs. 4-5)."""

from __future__ import annotations

from pathlib import Path

from .blocks import Block, Figure, Heading, Para, Table
from .common import SMOKE, Claim, ReportConfig, fmt, is_smoke, read_json
from .paper import CNF_CLAIM
from .stats import combine, order_verdict

TARGETS = ("two_moons", "two_circles")


def _figures(folder: Path, root: Path, caption: str) -> list[Block]:
    return [Figure(p.relative_to(root), f"{caption} ({p.stem.replace('_', ' ')}).")
            for p in sorted(folder.glob("*.png"))] if folder.is_dir() else []


def section(metrics: Path, figures: Path, root: Path, cfg: ReportConfig
            ) -> tuple[list[Block], list[Claim]]:
    # the paper gives no CNF numbers to hold ours to; the claims are orderings
    blocks: list[Block] = [Heading("Continuous normalizing flows (sec. 4)")]
    rows, ml_better, ml_verdicts, runs = [], 0, [], []
    for target in TARGETS:
        m = {k: read_json(metrics / "cnf" / "ml" / f"{target}_{k}.json",
                          f"evaluate_cnf_ml@{target}-{k}") for k in ("cnf", "nf")}
        runs += m.values()
        ml_better += int(m["cnf"]["test_nll"] <= m["nf"]["test_nll"])
        ml_verdicts.append(order_verdict([m["cnf"]["test_nll"]], [m["nf"]["test_nll"]]))
        rows.append((target, f"{fmt(m['cnf']['test_nll'])} ± {fmt(m['cnf']['test_nll_se'], 1)}",
                     f"{fmt(m['nf']['test_nll'])} ± {fmt(m['nf']['test_nll_se'], 1)}",
                     fmt(m["cnf"]["nfe_forward_mean"]), fmt(m["cnf"]["steps"]),
                     fmt(m["nf"]["steps"]),
                     f"{m['cnf']['train_time_s']:.0f} / {m['nf']['train_time_s']:.0f}"))
    blocks += [
        Para("Maximum likelihood on samples from two 2-D targets (paper Fig. 5): held-out "
             "negative log-likelihood in nats (lower is better), CNF with M = 64 hidden "
             "units against a planar NF with K = 64 layers. The paper shows these as "
             "figures only, without numbers."),
        Table(("target", "CNF NLL", "NF NLL", "CNF NFE-F (train mean)", "CNF iterations",
               "NF iterations", "training time CNF / NF (s)"), tuple(rows))]
    for target in TARGETS:
        for kind in ("cnf", "nf"):
            blocks += _figures(figures / "cnf" / f"ml_{target}_{kind}", root,
                               f"{target}, {kind.upper()}")
    cap = read_json(metrics / "cnf" / "capacity.json", "evaluate_cnf_capacity_summary")
    widths = [str(w) for w in cap["widths"]]
    blocks += [
        Para(f"Density matching (paper Fig. 4): minimise KL(q‖p) toward the analytic "
             f"density {cap['target']} at capacity K = M; final KL in nats (lower is better)."),
        Table(("K = M", "CNF KL", "NF KL", "lower"),
              tuple((w, fmt(cap["kl_cnf"][w]), fmt(cap["kl_nf"][w]),
                     "CNF" if cap["kl_cnf"][w] < cap["kl_nf"][w] else "NF") for w in widths)),
    ]
    blocks += _figures(figures / "cnf" / "capacity", root, "Capacity")
    lower = int(cap["cnf_lower_count"])
    smoke = is_smoke(runs, cfg)
    by_width = [order_verdict([cap["kl_cnf"][w]], [cap["kl_nf"][w]]) for w in widths]
    claims = [Claim(CNF_CLAIM, f"CNF lower at {lower} of {len(widths)} capacities",
                    SMOKE if smoke else combine(by_width, "majority"))]
    claims.append(Claim("CNF fits the Fig. 5 targets at least as well as a planar NF "
                        "(shown qualitatively in the paper)",
                        f"CNF lower NLL on {ml_better} of {len(rows)} targets",
                        SMOKE if smoke else combine(ml_verdicts)))
    return blocks, claims
