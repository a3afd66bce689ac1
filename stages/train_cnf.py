"""Stages train_cnf_ml@<target>-<model>-<seed> and train_cnf_capacity@<model>-<width>-<seed>:
train one run of the CNF vs planar NF experiments (paper sec. 4.1, Figs. 4-5); writes the
model file, its per-iteration log, the training summary and (ml) the budget axis's
weight snapshots, and logs the model to MLflow. Evaluation (evaluate_cnf) and figures
(figures_cnf) read the model file."""

import argparse
import dataclasses
from pathlib import Path

from neuralode_repro import runner, runs
from neuralode_repro.experiments.cnf import CLI, CNFTrainConfig, check_selection, run_spec, train
from neuralode_repro.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    cfg = ctx.section(CNFTrainConfig, "train_cnf")
    check_selection(cfg, args.task, target=args.target, width=args.width, seed=args.seed,
                    snapshots=args.snapshots)
    device = resolve_device(ctx.common.device)
    task_cfg = getattr(cfg, args.task)
    run = runs.cnf(args.task, args.model, args.seed, target=args.target, width=args.width)
    resolved = {"task": args.task, "model": args.model, "seed": args.seed, "run": run.stem,
                "train": dataclasses.asdict(run_spec(cfg, args.task, args.model, args.width)),
                "target": dataclasses.asdict(task_cfg.targets[args.target] if args.task == "ml"
                                             else task_cfg.target)}
    log, summary = Path(args.train_log), Path(args.summary)

    def body(tracker) -> runner.Result:
        model, facts = train(args.task, args.model, cfg, seed=args.seed,
                             tracker=tracker, weights=Path(args.weights), log=log,
                             summary=summary, target=args.target, width=args.width,
                             snapshots=Path(args.snapshots) if args.snapshots else None,
                             device=device)
        return runner.Result(facts, [log, summary], model=model)

    # 2-D batches of <= 512 points: a second thread only adds overhead (measured: same
    # wall time single-threaded, at half the CPU)
    return runner.Job(run.stage(), resolved, body, seed=args.seed, threads=1)


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, writes=("weights", "log", "summary", "snapshots"),
                         optional=("snapshots",), extra=CLI)
