"""Stages evaluate_cnf_ml@<target>-<model>-<seed> and
evaluate_cnf_capacity@<model>-<width>-<seed>:
score one saved CNF / planar NF model (paper sec. 4.1, Figs. 4-5) with the tight
evaluation solver: the held-out NLL (ml) or KL(q || p) with log Z (capacity); writes
the metrics the report reads ({training summary, evaluation metrics}) and (ml) the
budget axis: the held-out NLL of each training snapshot, against iterations, CPU seconds
and training FLOPs (from the training log's NFE). The model file and the training
summary must be those of the run the command line names."""

import argparse
import dataclasses
from pathlib import Path

from neuralode_repro import runner, runs
from neuralode_repro.artifacts import load_model, read_summary
from neuralode_repro.experiments.cnf import CLI, CNFEvalConfig, model_from_config
from neuralode_repro.experiments.cnf_eval import evaluate_budget, evaluate_capacity, evaluate_ml
from neuralode_repro.io import read_csv, write_csv, write_json
from neuralode_repro.metrics import compose
from neuralode_repro.snapshots import read_snapshots
from neuralode_repro.tracking import TRAIN_RUN_TAG
from neuralode_repro.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    ev = getattr(ctx.section(CNFEvalConfig, "evaluate_cnf"), args.task)
    device = resolve_device(ctx.common.device)
    selects = {"ml": "--target", "capacity": "--width"}  # what names a run, as train_cnf
    for flag, value in (("--target", args.target), ("--width", args.width)):
        if (value is not None) != (selects[args.task] == flag):
            need = "required" if selects[args.task] == flag else "not used"
            raise ValueError(f"{flag} is {need} with --task {args.task}; pass the run's "
                             "selection as dvc.yaml's cmd does")
    ml_files = (args.snapshots, args.budget, args.train_log)
    if (args.task == "ml") != all(f is not None for f in ml_files) or (
            args.task != "ml" and any(f is not None for f in ml_files)):
        need = "required" if args.task == "ml" else "not used"
        raise ValueError(f"--snapshots, --train-log and --budget are {need} with --task "
                         f"{args.task}; pass them as dvc.yaml's cmd does")
    kind = args.model
    run = runs.cnf(args.task, kind, args.seed, target=args.target, width=args.width)
    model, config, meta = load_model(args.weights, model_from_config, device,
                                     expected=run.identity())
    facts = read_summary(args.summary, run.identity())
    snapshots = read_snapshots(Path(args.snapshots)) if args.task == "ml" else None
    log = read_csv(args.train_log) if args.task == "ml" else None

    def body(_) -> runner.Result:
        outs = [Path(args.metrics)]
        if args.task == "ml":
            metrics = evaluate_ml(model, config, ev)
            rows = evaluate_budget(model, config, snapshots, ev, log, facts["batch_size"])
            write_csv(args.budget, rows, ("step", "train_time_s", "train_flops", "test_nll"))
            outs.append(Path(args.budget))
        else:
            metrics = evaluate_capacity(model, config, ev, facts["final_loss"])
        write_json(args.metrics, compose(facts, metrics))
        return runner.Result(metrics, outs)

    resolved = {"task": args.task, "model": kind,
                "run": run.stem,
                "eval": dataclasses.asdict(ev)}
    # 2-D points: one thread, as in training
    return runner.Job(run.stage("evaluate"), resolved, body,
                      seed=args.seed, threads=1,
                      tags={TRAIN_RUN_TAG: meta.get("mlflow_run_id", "")})


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, reads=("weights", "summary", "snapshots", "log"),
                         writes=("metrics", "budget"), optional=("snapshots", "log", "budget"),
                         extra=CLI)
