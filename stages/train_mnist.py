"""Stage train_mnist@<model>-<seed>: train one Table 1 model (paper sec. 3) on MNIST
and write its metrics, per-iteration log (loss, NFE-F, NFE-B), state dict and figure.

A killed run resumes from checkpoints/mnist/<model>-s<seed>-<config hash>.pt. With
``train_mnist.nproc`` > 1 the stage relaunches itself under torchrun (DDP, one shard of
every batch per process); only rank 0 writes outputs and the MLflow run.
"""

import argparse
from pathlib import Path

import torch

from neuralode import cli, distributed
from neuralode.config import CommonConfig, load_params, load_section
from neuralode.data.mnist import MnistError
from neuralode.experiments.mnist import (
    MnistTrainConfig,
    model_config,
    resolved_config,
    run_name,
    train,
)
from neuralode.tracking import stage_run
from neuralode.training import resolve_device


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    common = load_section(CommonConfig, "common", args.params, params)
    cfg = load_section(MnistTrainConfig, "train_mnist", args.params, params)
    model_config(cfg, args.model)  # unknown model: error before any output
    if args.seed not in cfg.seeds:
        raise ValueError(f"--seed {args.seed} is not in train_mnist.seeds {list(cfg.seeds)}")
    device = resolve_device(common.device)
    distributed.relaunch(cfg.nproc, device)
    distributed.init(device)
    try:
        _train(args, common, cfg, device)
    finally:
        distributed.shutdown()


def _train(args: argparse.Namespace, common: CommonConfig, cfg: MnistTrainConfig,
           device: torch.device) -> None:
    run = run_name(args.model, args.seed)
    stage = f"train_mnist@{args.model}-{args.seed}"
    metrics_dir = Path(args.metrics) / "mnist"
    with stage_run(stage, common.mlflow_experiment, resolved_config(cfg, args.model, args.seed),
                   profile=common.profile, seed=args.seed) as tracker:
        try:
            metrics = train(args.model, cfg, seed=args.seed,
                            data_root=Path(args.data) / "mnist", tracker=tracker,
                            metrics_dir=metrics_dir, models_dir=Path(args.models) / "mnist",
                            figures_dir=Path(args.figures) / "mnist",
                            checkpoint_dir=Path(args.checkpoints), device=device)
        except MnistError as err:  # e.g. data/mnist missing: one line, not a traceback
            raise OSError(f"{err} (the download_mnist stage writes it)") from None
        if not distributed.is_main():  # rank 0 writes and logs
            return
        tracker.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float | int)})
        for name in (f"{run}.json", f"{run}_log.csv"):
            tracker.log_artifact(metrics_dir / name)
        tracker.log_artifact(Path(args.figures) / "mnist" / f"{run}_training.png", "figures")
        print(f"{stage}: test error {metrics['test_error']:.2f}%, "
              f"{metrics['n_params']} params, {metrics['peak_memory_mb']:.1f} MB, "
              f"{metrics['epoch_time_s']:.1f} s/epoch, NFE-F {metrics['nfe_forward_mean']:.1f}, "
              f"NFE-B {metrics['nfe_backward_mean']:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="a key of train_mnist.models")
    parser.add_argument("--seed", type=int, required=True, help="one of train_mnist.seeds")
    parser.add_argument("--data", default="data", help="holds mnist/ (default: %(default)s)")
    parser.add_argument("--models", default="data/models")
    parser.add_argument("--metrics", default="metrics")
    parser.add_argument("--figures", default="reports/figures")
    parser.add_argument("--checkpoints", default="checkpoints/mnist")
    cli.run(main, parser)
