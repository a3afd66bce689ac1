"""Stage train_mnist@<model>-<seed>: train one Table 1 model (paper sec. 3) on MNIST
and write its model file, per-iteration log (loss, NFE-F, NFE-B, ...) and training
summary, and log the model to MLflow; evaluate_mnist scores it.

A killed run resumes from checkpoints/mnist/<model>-s<seed>-<code+config hash>.pt; the
checkpoint is deleted once the outputs are published. With ``train_mnist.nproc`` > 1
the stage relaunches itself under torchrun (DDP, one shard of every batch per
process); only rank 0 writes outputs and the MLflow run.
"""

import argparse
from pathlib import Path

from neuralode_repro import distributed, runner, runs
from neuralode_repro.config import check_seed_in
from neuralode_repro.experiments import mnist
from neuralode_repro.experiments.mnist_curve import side_file
from neuralode_repro.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    cfg = ctx.section(mnist.MnistTrainConfig, "train_mnist")
    mnist.model_config(cfg, args.model)  # unknown model: error before any output
    check_seed_in(args.seed, cfg.seeds, "train_mnist")
    device = resolve_device(ctx.common.device)
    distributed.relaunch(cfg.nproc, device)
    distributed.init(device)
    stage = runs.run("mnist", model=args.model, seed=args.seed).stage()
    checkpoints = Path(args.checkpoints)

    def body(tracker) -> runner.Result:
        model, m = mnist.train(args.model, cfg, seed=args.seed, data_root=Path(args.data),
                         tracker=tracker, weights=Path(args.weights), log=Path(args.train_log),
                         summary=Path(args.summary), snapshots=Path(args.snapshots),
                         checkpoint_dir=checkpoints, device=device)
        if not distributed.is_main():  # rank 0 writes and logs
            return runner.Result()
        ckpt, _ = mnist.checkpoint_for(checkpoints, cfg, args.model, args.seed)
        return runner.Result(
            m, [Path(args.train_log), Path(args.summary)], model=model,
            summary=f"{stage}: {m['n_params']} params, {m['epoch_time_s']:.1f} s/epoch, "
                    f"final loss {m['final_loss']:.4g}, NFE-F {m['nfe_forward_mean']:.1f}, "
                    f"NFE-B {m['nfe_backward_mean']:.1f}",
            cleanup=lambda: [p.unlink(missing_ok=True)  # finished: never resume it
                             for p in (ckpt, side_file(ckpt))])

    return runner.Job(stage, mnist.resolved_config(cfg, args.model, args.seed), body,
                      seed=args.seed, close=distributed.shutdown)


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, run="mnist", writes=("weights", "log", "summary", "snapshots"),
                         extra={"--data": "the MNIST folder (data/mnist)",
                                "--checkpoints": ("resume checkpoints (not an output; "
                                                  "default: %(default)s)",
                                                  {"default": "checkpoints/mnist"})})
