"""Stage nfe_study: the numbers of paper Figure 3 from the saved ODE-Net: (a) NFE vs
numerical error and (b) time vs NFE over a tolerance sweep per solver family, (c)
NFE-B vs NFE-F from its training log and per solver family on the trained model, and
(d) NFE vs epoch from its training log; writes the study's JSON and the sweep's CSV
(figures_mnist draws the four panels). The model file must be that of the run
nfe_study.model and nfe_study.seed name, trained on --data."""

import argparse
import dataclasses
from pathlib import Path

from neuralode_repro import runner, runs
from neuralode_repro.experiments.mnist import load_model
from neuralode_repro.experiments.nfe_study import NfeStudyConfig, run
from neuralode_repro.tracking import TRAIN_RUN_TAG
from neuralode_repro.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    cfg = ctx.section(NfeStudyConfig, "nfe_study")
    device = resolve_device(ctx.common.device)
    studied = runs.run("mnist", model=cfg.model, seed=cfg.seed)
    args = ctx.args
    saved = load_model(Path(args.weights), device, expected=studied.identity(args.data))

    def body(tracker) -> runner.Result:
        m = run(cfg, saved, Path(args.train_log), Path(args.data),
                json_path=Path(args.metrics), csv_path=Path(args.table))
        for method, part in m["by_method"].items():
            for i, row in enumerate(part["sweep"]):
                tracker.log_metrics({f"{method}_sweep_{k}": v for k, v in row.items()
                                     if k != "method"}, i)
            tracker.log_metrics({f"{method}_time_vs_nfe_{k}": v
                                 for k, v in part["time_vs_nfe_s"].items()})
            for i, row in enumerate(part["backward_over_forward"]):
                tracker.log_metrics({f"{method}_ratio_{k}": v for k, v in row.items()
                                     if k != "method"}, i)
        ratios = ", ".join(f"{k} {v['backward_over_forward_range'][0]:.2f}-"
                           f"{v['backward_over_forward_range'][1]:.2f}"
                           for k, v in m["by_method"].items())
        return runner.Result(
            {k: v for k, v in m.items() if isinstance(v, float)},
            [Path(args.metrics), Path(args.table)],
            summary=f"nfe_study@{studied.stem}: NFE-F {m['nfe_forward_range']} over the sweep, "
                    f"time/NFE {m['time_vs_nfe_s']['ms_per_nfe']:.2f} ms (R^2 "
                    f"{m['time_vs_nfe_s']['r2']:.3f}), NFE-B/NFE-F "
                    f"{m['nfe_backward_over_forward_mean']:.2f} in training, on the trained "
                    f"model {ratios}; NFE-F slope {m['nfe_forward_slope_per_epoch']:+.2f}/epoch")

    return runner.Job("nfe_study", dataclasses.asdict(cfg), body, seed=cfg.seed,
                      tags={TRAIN_RUN_TAG: saved.meta.get("mlflow_run_id", "")})


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, extra={
        "--data": "the MNIST folder (data/mnist)", "--weights": "the studied run's model file",
        "--train-log": "the studied run's training log", "--metrics": "output: the study's JSON",
        "--table": "output: CSV of the tolerance sweep"})
