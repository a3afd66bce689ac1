"""Stage train_mnist@<model>-<seed>: train one Table 1 model (paper sec. 3) on MNIST
and write its metrics, per-iteration log (loss, NFE-F, NFE-B), state dict and figure.

A killed run resumes from checkpoints/mnist/<model>-s<seed>-<code+config hash>.pt; the
checkpoint is deleted once the outputs are published. With ``train_mnist.nproc`` > 1
the stage relaunches itself under torchrun (DDP, one shard of every batch per
process); only rank 0 writes outputs and the MLflow run.
"""

import argparse
from pathlib import Path

from neuralode import distributed, runner
from neuralode.data.mnist import MnistError
from neuralode.experiments.mnist import (
    MnistTrainConfig,
    checkpoint_for,
    model_config,
    resolved_config,
    run_name,
    train,
)
from neuralode.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    cfg = ctx.section(MnistTrainConfig, "train_mnist")
    model_config(cfg, args.model)  # unknown model: error before any output
    if args.seed not in cfg.seeds:
        raise ValueError(f"--seed {args.seed} is not in train_mnist.seeds {list(cfg.seeds)}")
    device = resolve_device(ctx.common.device)
    distributed.relaunch(cfg.nproc, device)
    distributed.init(device)
    run = run_name(args.model, args.seed)
    stage = f"train_mnist@{args.model}-{args.seed}"
    metrics_dir, figures = Path(args.metrics) / "mnist", Path(args.figures) / "mnist"
    checkpoints = Path(args.checkpoints)

    def body(tracker) -> runner.Result:
        try:
            m = train(args.model, cfg, seed=args.seed, data_root=Path(args.data) / "mnist",
                      tracker=tracker, metrics_dir=metrics_dir,
                      models_dir=Path(args.models) / "mnist", figures_dir=figures,
                      checkpoint_dir=checkpoints, device=device)
        except MnistError as err:  # e.g. data/mnist missing: one line, not a traceback
            raise OSError(f"{err} (the download_mnist stage writes it)") from None
        if not distributed.is_main():  # rank 0 writes and logs
            return runner.Result()
        ckpt, _ = checkpoint_for(checkpoints, cfg, args.model, args.seed)
        return runner.Result(
            m, [metrics_dir / f"{run}.json", metrics_dir / f"{run}_log.csv",
                (figures / f"{run}_training.png", "figures")],
            summary=f"{stage}: test error {m['test_error']:.2f}%, {m['n_params']} params, "
                    f"{m['peak_memory_mb']:.1f} MB, {m['epoch_time_s']:.1f} s/epoch, NFE-F "
                    f"{m['nfe_forward_mean']:.1f}, NFE-B {m['nfe_backward_mean']:.1f}",
            cleanup=lambda: ckpt.unlink(missing_ok=True))  # finished: never resume it

    return runner.Job(stage, resolved_config(cfg, args.model, args.seed), body,
                      seed=args.seed, close=distributed.shutdown)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="a key of train_mnist.models")
    p.add_argument("--seed", type=int, required=True, help="one of train_mnist.seeds")
    p.add_argument("--data", default="data", help="holds mnist/ (default: %(default)s)")
    p.add_argument("--models", default="data/models")
    p.add_argument("--metrics", default="metrics")
    p.add_argument("--figures", default="reports/figures")
    p.add_argument("--checkpoints", default="checkpoints/mnist")
    return p


if __name__ == "__main__":
    runner.main(prepare, parser())
