"""Stage nfe_study: paper Figure 3 from the trained ODE-Net: (a) NFE vs numerical error
and (b) time vs NFE over a tolerance sweep, (c) NFE-B vs NFE-F and (d) NFE vs epoch
from its training log; writes metrics/mnist/nfe_study.json, nfe_tolerance.csv and
reports/figures/mnist/fig3{a,b,c,d}_*.png."""

import argparse
import dataclasses
from pathlib import Path

from neuralode import runner
from neuralode.data.mnist import MnistError
from neuralode.experiments.mnist import run_name
from neuralode.experiments.nfe_study import NfeStudyConfig, run
from neuralode.training import resolve_device

FIGURES = ("fig3a_nfe_vs_error.png", "fig3b_time_vs_nfe.png",
           "fig3c_nfe_backward_vs_forward.png", "fig3d_nfe_vs_epoch.png")


def prepare(ctx: runner.Context) -> runner.Job:
    cfg = ctx.section(NfeStudyConfig, "nfe_study")
    device = resolve_device(ctx.common.device)
    run_id = run_name(cfg.model, cfg.seed)
    args = ctx.args
    metrics_dir, figures = Path(args.metrics) / "mnist", Path(args.figures) / "mnist"

    def body(tracker) -> runner.Result:
        try:
            m = run(cfg, Path(args.models) / "mnist" / f"{run_id}.pt",
                    metrics_dir / f"{run_id}_log.csv", Path(args.data) / "mnist",
                    metrics_dir=metrics_dir, figures_dir=figures, device=device)
        except MnistError as err:  # e.g. data/mnist missing: one line, not a traceback
            raise OSError(f"{err} (the download_mnist stage writes it)") from None
        for i, row in enumerate(m["sweep"]):
            tracker.log_metrics({f"sweep_{k}": v for k, v in row.items()}, i)
        tracker.log_metrics({f"time_vs_nfe_{k}": v for k, v in m["time_vs_nfe_s"].items()})
        return runner.Result(
            {k: v for k, v in m.items() if isinstance(v, float)},
            [metrics_dir / "nfe_study.json", metrics_dir / "nfe_tolerance.csv",
             *((figures / f, "figures") for f in FIGURES)],
            summary=f"nfe_study@{run_id}: NFE-F {m['nfe_forward_range']} over the sweep, "
                    f"time/NFE {m['time_vs_nfe_s']['ms_per_nfe']:.2f} ms (R^2 "
                    f"{m['time_vs_nfe_s']['r2']:.3f}), NFE-B/NFE-F "
                    f"{m['nfe_backward_over_forward_mean']:.2f}, NFE-F slope "
                    f"{m['nfe_forward_slope_per_epoch']:+.2f}/epoch")

    return runner.Job("nfe_study", dataclasses.asdict(cfg), body, seed=cfg.seed)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default="data", help="holds mnist/ (default: %(default)s)")
    p.add_argument("--models", default="data/models")
    p.add_argument("--metrics", default="metrics")
    p.add_argument("--figures", default="reports/figures")
    return p


if __name__ == "__main__":
    runner.main(prepare, parser())
