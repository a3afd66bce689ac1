"""Stage train_toy@<experiment>: fit one toy dynamics experiment with the adjoint
method and write its metrics, loss curve, figures and training GIF."""

import argparse
from pathlib import Path

from neuralode import cli
from neuralode.config import CommonConfig, load_params, load_section
from neuralode.experiments.toy import ToyTrainConfig, run
from neuralode.io import load_arrays
from neuralode.tracking import stage_run
from neuralode.training import resolve_device


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    common = load_section(CommonConfig, "common", args.params, params)
    cfg = load_section(ToyTrainConfig, f"train_toy.{args.experiment}", args.params, params)
    device = resolve_device(common.device)
    data = load_arrays(Path(args.data) / "toy" / f"{args.experiment}.npz")
    stage = f"train_toy@{args.experiment}"
    with stage_run(stage, common.mlflow_experiment, params["train_toy"][args.experiment],
                   profile=common.profile, seed=common.seed) as tracker:
        figures = Path(args.figures) / "toy" / args.experiment
        metrics = run(args.experiment, cfg, data, seed=common.seed, tracker=tracker,
                      metrics_dir=Path(args.metrics) / "toy", figures_dir=figures, device=device)
        tracker.log_results(metrics, [Path(args.metrics) / "toy" / f"{args.experiment}.json"],
                            figures)
        print(cli.summary(stage, metrics))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("experiment", help="a key of train_toy in params.yaml")
    parser.add_argument("--data", default="data")
    parser.add_argument("--metrics", default="metrics")
    parser.add_argument("--figures", default="reports/figures")
    cli.run(main, parser)
