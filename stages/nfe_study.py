"""Stage nfe_study: paper Figure 3 from the trained ODE-Net: (a) NFE vs numerical error
and (b) time vs NFE over a tolerance sweep, (c) NFE-B vs NFE-F and (d) NFE vs epoch
from its training log; writes metrics/mnist/nfe_study.json, nfe_tolerance.csv and
reports/figures/mnist/fig3{a,b,c,d}_*.png."""

import argparse
from pathlib import Path

from neuralode import cli
from neuralode.config import CommonConfig, load_params, load_section
from neuralode.data.mnist import MnistError
from neuralode.experiments.mnist import run_name
from neuralode.experiments.nfe_study import NfeStudyConfig, run
from neuralode.tracking import stage_run
from neuralode.training import resolve_device

FIGURES = ("fig3a_nfe_vs_error.png", "fig3b_time_vs_nfe.png",
           "fig3c_nfe_backward_vs_forward.png", "fig3d_nfe_vs_epoch.png")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    common = load_section(CommonConfig, "common", args.params, params)
    cfg = load_section(NfeStudyConfig, "nfe_study", args.params, params)
    device = resolve_device(common.device)
    run_id = run_name(cfg.model, cfg.seed)
    metrics_dir, figures = Path(args.metrics) / "mnist", Path(args.figures) / "mnist"
    with stage_run("nfe_study", common.mlflow_experiment, params["nfe_study"],
                   profile=common.profile, seed=cfg.seed) as tracker:
        try:
            metrics = run(cfg, Path(args.models) / "mnist" / f"{run_id}.pt",
                          metrics_dir / f"{run_id}_log.csv", Path(args.data) / "mnist",
                          metrics_dir=metrics_dir, figures_dir=figures, device=device)
        except MnistError as err:  # e.g. data/mnist missing: one line, not a traceback
            raise OSError(f"{err} (the download_mnist stage writes it)") from None
        for i, row in enumerate(metrics["sweep"]):
            tracker.log_metrics({f"sweep_{k}": v for k, v in row.items()}, i)
        tracker.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float)})
        tracker.log_metrics({f"time_vs_nfe_{k}": v for k, v in metrics["time_vs_nfe_s"].items()})
        for name in ("nfe_study.json", "nfe_tolerance.csv"):
            tracker.log_artifact(metrics_dir / name)
        for fig in FIGURES:
            tracker.log_artifact(figures / fig, "figures")
        print(f"nfe_study@{run_id}: NFE-F {metrics['nfe_forward_range']} over the sweep, "
              f"time/NFE {metrics['time_vs_nfe_s']['ms_per_nfe']:.2f} ms (R^2 "
              f"{metrics['time_vs_nfe_s']['r2']:.3f}), NFE-B/NFE-F "
              f"{metrics['nfe_backward_over_forward_mean']:.2f}, NFE-F slope "
              f"{metrics['nfe_forward_slope_per_epoch']:+.2f}/epoch")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="data", help="holds mnist/ (default: %(default)s)")
    parser.add_argument("--models", default="data/models")
    parser.add_argument("--metrics", default="metrics")
    parser.add_argument("--figures", default="reports/figures")
    cli.run(main, parser)
