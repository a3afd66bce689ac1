"""Stage cnf_capacity_plot: paper Fig. 4 from the train_cnf_capacity runs, the final
KL(q || p) per capacity K = M for the CNF and the planar NF (metrics, CSV and figures)."""

import argparse
from pathlib import Path

from neuralode import runner
from neuralode.experiments.cnf import CNFTrainConfig, summarize_capacity


def prepare(ctx: runner.Context) -> runner.Job:
    cfg = ctx.section(CNFTrainConfig, "train_cnf").capacity
    metrics_dir = Path(ctx.args.metrics) / "cnf"
    figures = Path(ctx.args.figures) / "cnf" / "capacity"

    def body(tracker) -> runner.Result:
        s = summarize_capacity(cfg, metrics_dir / "capacity", metrics_dir, figures)
        final = {f"kl_{kind}_{w}": kl for kind in ("cnf", "nf")
                 for w, kl in s[f"kl_{kind}"].items()}
        return runner.Result(
            {**final, "cnf_lower_count": s["cnf_lower_count"]},
            [(metrics_dir / "capacity.json", "metrics"), (metrics_dir / "capacity.csv", "metrics")],
            figures,
            summary=f"cnf_capacity_plot: CNF lower at {s['cnf_lower_count']} of "
                    f"{len(cfg.widths)} capacities; KL CNF {s['kl_cnf']}, NF {s['kl_nf']}")

    return runner.Job("cnf_capacity_plot", {"widths": list(cfg.widths)}, body)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--metrics", default="metrics")
    p.add_argument("--figures", default="reports/figures")
    return p


if __name__ == "__main__":
    runner.main(prepare, parser())
