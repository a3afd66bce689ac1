"""Stages train_cnf_ml@<target>-<model> and train_cnf_capacity@<model>-<width>: one run
of the CNF vs planar NF experiments (paper sec. 4.1, Figs. 4-5); writes its metrics,
loss curve and figures, and logs them with the model to MLflow."""

import argparse
import dataclasses
import os
from pathlib import Path

import torch

from neuralode import cli
from neuralode.config import CommonConfig, load_params, load_section
from neuralode.experiments.cnf import CNFTrainConfig, check_selection, run, run_name
from neuralode.tracking import stage_run
from neuralode.training import resolve_device


def main(args: argparse.Namespace) -> None:
    # 2-D batches of <= 512 points: a second thread only adds overhead (measured: same
    # wall time single-threaded, at half the CPU).
    torch.set_num_threads(1)
    params = load_params(args.params)
    common = load_section(CommonConfig, "common", args.params, params)
    cfg = load_section(CNFTrainConfig, "train_cnf", args.params, params)
    check_selection(cfg, args.task, target=args.target, width=args.width)
    device = resolve_device(common.device)
    name = run_name(args.task, args.model, target=args.target, width=args.width)
    suffix = f"{args.target}-{args.model}" if args.task == "ml" else f"{args.model}-{args.width}"
    stage = os.environ.get("DVC_STAGE") or f"train_cnf_{args.task}@{suffix}"
    task_cfg = getattr(cfg, args.task)
    resolved = {"task": args.task, "model": args.model, "run": name,
                "train": dataclasses.asdict(getattr(task_cfg, args.model)),
                "eval": dataclasses.asdict(task_cfg.eval),
                "target": dataclasses.asdict(task_cfg.targets[args.target] if args.task == "ml"
                                             else task_cfg.target)}
    if args.task == "capacity":
        resolved["train"]["model"]["width"] = args.width
    metrics_dir = Path(args.metrics) / "cnf" / args.task
    figures = Path(args.figures) / "cnf" / f"{args.task}_{name}"
    with stage_run(stage, common.mlflow_experiment, resolved, profile=common.profile,
                   seed=common.seed) as tracker:
        metrics = run(args.task, args.model, cfg, seed=common.seed, tracker=tracker,
                      metrics_dir=metrics_dir, figures_dir=figures, target=args.target,
                      width=args.width, device=device)
        files = [metrics_dir / f"{name}{ext}" for ext in (".json", "_loss.csv")]
        tracker.log_results(metrics, files, figures, files_path="metrics")
        print(cli.summary(stage, metrics))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", required=True, choices=["ml", "capacity"])
    parser.add_argument("--model", required=True, choices=["cnf", "nf"])
    parser.add_argument("--target", help="ml: a key of train_cnf.ml.targets")
    parser.add_argument("--width", type=int, help="capacity: one of train_cnf.capacity.widths")
    parser.add_argument("--metrics", default="metrics")
    parser.add_argument("--figures", default="reports/figures")
    cli.run(main, parser)
