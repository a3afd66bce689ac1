"""Stage evaluate_cnf_capacity_summary: paper Fig. 4 (d) data from the
evaluate_cnf_capacity runs, the final KL(q || p) per capacity K = M for the CNF and the
planar NF (metrics JSON and the CSV table figures_cnf draws); draws no figure."""

import argparse
from pathlib import Path

from neuralode_repro import runner
from neuralode_repro.experiments.cnf import CNFTrainConfig
from neuralode_repro.experiments.cnf_eval import summarize_capacity


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    widths = ctx.section(CNFTrainConfig, "train_cnf").capacity.widths

    def body(_) -> runner.Result:
        s = summarize_capacity(widths, Path(args.metrics_dir), Path(args.metrics),
                               Path(args.table))
        final = {f"kl_{kind}_{w}": kl for kind in ("cnf", "nf")
                 for w, kl in s[f"kl_{kind}"].items()}
        return runner.Result(
            {**final, "cnf_lower_count": s["cnf_lower_count"]},
            [Path(args.metrics), Path(args.table)],
            summary=f"evaluate_cnf_capacity_summary: CNF lower at {s['cnf_lower_count']} "
                    f"of {len(widths)} capacities; KL CNF {s['kl_cnf']}, NF {s['kl_nf']}")

    return runner.Job("evaluate_cnf_capacity_summary", {"widths": list(widths)}, body)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--metrics-dir", required=True,
                   help="folder of the evaluate_cnf_capacity metrics (metrics/cnf/capacity)")
    p.add_argument("--metrics", required=True, help="output: summary JSON")
    p.add_argument("--table", required=True, help="output: KL per width (CSV)")
    return p


if __name__ == "__main__":
    runner.main(prepare, parser())
