"""Stage evaluate_mnist@<model>-<seed>: Table 1's held-out numbers of one saved model
(paper sec. 3): test error, forward NFE per test batch and the peak memory of one
training step; writes the metrics the report reads (training summary included), and
the learning curve: the test error of each training snapshot. The model file and the
training summary must be those of the run the command line names."""

import argparse
from pathlib import Path

from neuralode_repro import runner, runs
from neuralode_repro.artifacts import read_summary
from neuralode_repro.experiments.mnist import MnistTrainConfig, evaluate_saved, load_model
from neuralode_repro.experiments.mnist_curve import evaluate_curve
from neuralode_repro.io import write_csv, write_json
from neuralode_repro.metrics import compose
from neuralode_repro.snapshots import read_snapshots
from neuralode_repro.tracking import TRAIN_RUN_TAG
from neuralode_repro.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    cfg = ctx.section(MnistTrainConfig, "train_mnist")
    device = resolve_device(ctx.common.device)
    run = runs.run("mnist", model=args.model, seed=args.seed)
    saved = load_model(Path(args.weights), device, expected=run.identity(args.data))
    facts = read_summary(args.summary, run.identity(args.data))
    snapshots = read_snapshots(Path(args.snapshots))
    stage = run.stage("evaluate")

    def body(_) -> runner.Result:
        m = evaluate_saved(saved, cfg, data_root=Path(args.data))
        curve = evaluate_curve(saved.model, saved.config, snapshots, cfg.curve,
                               Path(args.data))
        write_json(args.metrics, compose(facts, m))
        write_csv(args.curve, curve, ("step", "epoch", "test_error"))
        return runner.Result(
            m, [Path(args.metrics), Path(args.curve)],
            summary=f"{stage}: test error {m['test_error']:.2f}% on {m['test_images']} "
                    f"images, NFE-F {m['test_nfe_forward']:.1f} per test batch, "
                    f"{m['peak_memory_mb']:.1f} MB per training step")

    logged = {"data": {"test_subset": cfg.data.test_subset,
                       "test_batch_size": cfg.data.test_batch_size},
              "memory_batch": cfg.memory_batch, "curve_test_subset": cfg.curve.test_subset}
    return runner.Job(stage, logged, body, seed=args.seed,
                      tags={TRAIN_RUN_TAG: saved.meta.get("mlflow_run_id", "")})


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, run="mnist", reads=("weights", "summary", "snapshots"),
                         writes=("metrics", "curve"),
                         extra={"--data": "the MNIST folder (data/mnist)"})
