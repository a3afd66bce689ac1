"""Stage train_toy@<experiment>: fit one toy dynamics experiment with the adjoint
method and write its metrics, loss curve, figures and training GIF."""

import argparse
import dataclasses
from pathlib import Path

from neuralode import runner
from neuralode.experiments.toy import ToyTrainConfig, load_data, run
from neuralode.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    name = ctx.args.experiment
    cfg = ctx.section(ToyTrainConfig, f"train_toy.{name}")
    device = resolve_device(ctx.common.device)
    data = load_data(Path(ctx.args.data) / "toy", name)
    metrics_dir = Path(ctx.args.metrics) / "toy"
    figures = Path(ctx.args.figures) / "toy" / name

    def body(tracker) -> runner.Result:
        metrics = run(name, cfg, data, seed=ctx.common.seed, tracker=tracker,
                      metrics_dir=metrics_dir, figures_dir=figures, device=device)
        return runner.Result(metrics, [metrics_dir / f"{name}.json"], figures)

    return runner.Job(f"train_toy@{name}", dataclasses.asdict(cfg), body)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("experiment", help="a key of train_toy in params.yaml")
    p.add_argument("--data", default="data")
    p.add_argument("--metrics", default="metrics")
    p.add_argument("--figures", default="reports/figures")
    return p


if __name__ == "__main__":
    runner.main(prepare, parser())
