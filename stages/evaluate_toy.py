"""Stage evaluate_toy@<name>-<seed>: score the saved toy model against the noise-free
trajectory, its held-out continuation and (linear) the true matrix; writes the metrics
the report reads, the evaluated trajectory the figures draw and the budget axis of the
report's convergence rule (trajectory MSE at the training GIF's frames). The model file
and the training summary must be those of the run the command line names."""

import argparse
import dataclasses
from pathlib import Path

from neuralode_repro import runner, runs
from neuralode_repro.artifacts import load_model, read_summary
from neuralode_repro.config import parse
from neuralode_repro.experiments.budget import toy_frames
from neuralode_repro.experiments.toy import ToyTrainConfig, evaluate, load_data, model_from_config
from neuralode_repro.io import load_arrays, save_arrays, write_csv, write_json
from neuralode_repro.metrics import compose
from neuralode_repro.tracking import TRAIN_RUN_TAG


def prepare(ctx: runner.Context) -> runner.Job:
    args, name = ctx.args, ctx.args.name
    run = runs.run("toy", name=name, seed=args.seed)
    model, config, meta = load_model(args.weights, model_from_config,
                                     expected=run.identity(args.data))
    facts = read_summary(args.summary, run.identity(args.data))
    data = load_data(Path(args.data), name)
    cfg = parse(ToyTrainConfig, config, f"{args.weights}:config")  # its own solver
    frames = load_arrays(Path(args.snapshots))

    def body(_) -> runner.Result:
        metrics, traj = evaluate(model, cfg, data)
        write_json(args.metrics, compose(facts, metrics))
        save_arrays(args.predictions, {"trajectory": traj})
        write_csv(args.budget, toy_frames(frames, data))
        return runner.Result(metrics, [Path(args.metrics), Path(args.budget)])

    return runner.Job(run.stage("evaluate"),
                      {"solver": dataclasses.asdict(cfg.solver)}, body, seed=args.seed,
                      tags={TRAIN_RUN_TAG: meta.get("mlflow_run_id", "")})


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, run="toy", reads=("weights", "summary", "snapshots"),
                         writes=("metrics", "budget", "predictions"),
                         extra={"--data": "data/toy/<name>.npz"})
