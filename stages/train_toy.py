"""Stage train_toy@<name>-<seed>: fit one toy dynamics experiment with the adjoint
method (paper sec. 2) from one training seed; writes the model file, its per-iteration
log, the training summary and the snapshots of the training GIF, and logs the model to MLflow."""

import argparse
import dataclasses
from pathlib import Path

from neuralode_repro import runner, runs
from neuralode_repro.experiments.toy import ToySectionConfig, load_data, train
from neuralode_repro.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    args, name = ctx.args, ctx.args.name
    cfg = ctx.section(ToySectionConfig, "train_toy").experiment(name, args.seed)
    device = resolve_device(ctx.common.device)
    data = load_data(Path(args.data), name)

    def body(tracker) -> runner.Result:
        model, facts = train(name, cfg, data, seed=args.seed, data_path=args.data,
                             tracker=tracker, weights=Path(args.weights), log=Path(args.train_log),
                             summary=Path(args.summary), snapshots=Path(args.snapshots),
                             device=device)
        return runner.Result(facts, [Path(args.train_log), Path(args.summary)], model=model)

    return runner.Job(runs.run("toy", name=name, seed=args.seed).stage(),
                      dataclasses.asdict(cfg), body,
                      seed=args.seed)


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, run="toy", writes=("weights", "log", "summary", "snapshots"),
                         extra={"--data": "data/toy/<name>.npz"})
