"""Stage cnf_capacity_plot: paper Fig. 4 from the six train_cnf_capacity runs, the final
KL(q || p) per capacity K = M for the CNF and the planar NF (metrics, CSV and figures)."""

import argparse
import os
from pathlib import Path

from neuralode import cli
from neuralode.config import CommonConfig, load_params, load_section
from neuralode.experiments.cnf import CNFTrainConfig, summarize_capacity
from neuralode.tracking import stage_run


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    common = load_section(CommonConfig, "common", args.params, params)
    cfg = load_section(CNFTrainConfig, "train_cnf", args.params, params).capacity
    metrics_dir = Path(args.metrics) / "cnf"
    figures = Path(args.figures) / "cnf" / "capacity"
    stage = os.environ.get("DVC_STAGE") or "cnf_capacity_plot"
    with stage_run(stage, common.mlflow_experiment, {"widths": list(cfg.widths)},
                   profile=common.profile, seed=common.seed) as tracker:
        summary = summarize_capacity(cfg, metrics_dir / "capacity", metrics_dir, figures)
        for kind in ("cnf", "nf"):
            for w, kl in summary[f"kl_{kind}"].items():
                tracker.log_metrics({f"kl_{kind}_{w}": kl})
        tracker.log_metrics({"cnf_lower_count": summary["cnf_lower_count"]})
        for path in (metrics_dir / "capacity.json", metrics_dir / "capacity.csv"):
            tracker.log_artifact(path, "metrics")
        for fig in sorted(figures.iterdir()):
            tracker.log_artifact(fig, "figures")
        print(f"{stage}: CNF lower at {summary['cnf_lower_count']} of "
              f"{len(cfg.widths)} capacities; KL CNF {summary['kl_cnf']}, NF {summary['kl_nf']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", default="metrics")
    parser.add_argument("--figures", default="reports/figures")
    cli.run(main, parser)
