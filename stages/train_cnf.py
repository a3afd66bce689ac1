"""Stages train_cnf_ml@<target>-<model> and train_cnf_capacity@<model>-<width>: one run
of the CNF vs planar NF experiments (paper sec. 4.1, Figs. 4-5); writes its metrics,
loss curve and figures, and logs them with the model to MLflow."""

import argparse
import dataclasses
from pathlib import Path

from neuralode import runner
from neuralode.experiments.cnf import CNFTrainConfig, check_selection, run, run_name
from neuralode.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    cfg = ctx.section(CNFTrainConfig, "train_cnf")
    check_selection(cfg, args.task, target=args.target, width=args.width)
    device = resolve_device(ctx.common.device)
    name = run_name(args.task, args.model, target=args.target, width=args.width)
    suffix = f"{args.target}-{args.model}" if args.task == "ml" else f"{args.model}-{args.width}"
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

    def body(tracker) -> runner.Result:
        metrics = run(args.task, args.model, cfg, seed=ctx.common.seed, tracker=tracker,
                      metrics_dir=metrics_dir, figures_dir=figures, target=args.target,
                      width=args.width, device=device)
        files = [(metrics_dir / f"{name}{ext}", "metrics") for ext in (".json", "_loss.csv")]
        return runner.Result(metrics, files, figures)

    # 2-D batches of <= 512 points: a second thread only adds overhead (measured: same
    # wall time single-threaded, at half the CPU)
    return runner.Job(f"train_cnf_{args.task}@{suffix}", resolved, body, threads=1)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--task", required=True, choices=["ml", "capacity"])
    p.add_argument("--model", required=True, choices=["cnf", "nf"])
    p.add_argument("--target", help="ml: a key of train_cnf.ml.targets")
    p.add_argument("--width", type=int, help="capacity: one of train_cnf.capacity.widths")
    p.add_argument("--metrics", default="metrics")
    p.add_argument("--figures", default="reports/figures")
    return p


if __name__ == "__main__":
    runner.main(prepare, parser())
