"""Stage evaluate_cnf_capacity_summary: paper Fig. 4 (d) data from the
evaluate_cnf_capacity runs, the final KL(q || p) per capacity K = M and seed for the CNF
and the planar NF (metrics JSON and the CSV table figures_cnf draws); draws no figure."""

import argparse
from pathlib import Path

from neuralode_repro import runner
from neuralode_repro.experiments.cnf import CNFTrainConfig
from neuralode_repro.experiments.cnf_eval import summarize_capacity


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    train = ctx.section(CNFTrainConfig, "train_cnf")
    widths, seeds = train.capacity.widths, train.seeds

    def body(_) -> runner.Result:
        s = summarize_capacity(widths, seeds, Path(args.metrics_dir), Path(args.metrics),
                               Path(args.table))
        final = {f"kl_{kind}_{w}": kl for kind in ("cnf", "nf")
                 for w, kl in s[f"kl_{kind}_mean"].items()}
        return runner.Result(
            {**final, "cnf_lower_count": s["cnf_lower_count"]},
            [Path(args.metrics), Path(args.table)],
            summary=f"evaluate_cnf_capacity_summary: CNF lower at {s['cnf_lower_count']} "
                    f"of {len(widths)} capacities (mean over {len(seeds)} seeds); KL CNF "
                    f"{s['kl_cnf_mean']}, NF {s['kl_nf_mean']}")

    return runner.Job("evaluate_cnf_capacity_summary",
                      {"widths": list(widths), "seeds": list(seeds)}, body)


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, extra={
        "--metrics-dir": "folder of the evaluate_cnf_capacity metrics (metrics/cnf/capacity)",
        "--metrics": "output: summary JSON", "--table": "output: KL per width (CSV)"})
