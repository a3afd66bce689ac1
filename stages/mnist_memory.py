"""Stage mnist_memory: peak memory of one MNIST training step against the number of
fixed solver steps, ODE-Net (adjoint, paper sec. 2: O(1)) vs RK-Net (backprop through
the solver: O(L~)); writes metrics/mnist/memory.{json,csv} and memory_vs_nfe.png."""

import argparse
import dataclasses
from pathlib import Path

from neuralode import runner
from neuralode.experiments.mnist import MnistTrainConfig, model_config
from neuralode.experiments.mnist_memory import MnistMemoryConfig, run
from neuralode.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    cfg = ctx.section(MnistMemoryConfig, "mnist_memory")
    arch = model_config(ctx.section(MnistTrainConfig, "train_mnist"), cfg.architecture)
    device = resolve_device(ctx.common.device)
    figures = Path(ctx.args.figures) / "mnist"
    metrics_dir = Path(ctx.args.metrics) / "mnist"

    def body(tracker) -> runner.Result:
        m = run(cfg, arch, metrics_dir=metrics_dir, figures_dir=figures, device=device)
        for kind in ("odenet", "rknet"):
            for nfe, mb in zip(m["nfe_forward"], m[f"{kind}_mb"], strict=True):
                tracker.log_metrics({f"{kind}_peak_mb": mb}, nfe)
        return runner.Result(
            {k: float(m[k]) for k in ("odenet_spread", "rknet_growth", "rknet_mb_per_nfe")},
            [metrics_dir / "memory.json", metrics_dir / "memory.csv",
             (figures / "memory_vs_nfe.png", "figures")],
            summary=f"mnist_memory ({m['device']}, batch {cfg.batch_size}): NFE-F "
                    f"{m['nfe_forward']}; ODE-Net MB {_fmt(m['odenet_mb'])} (spread "
                    f"{100 * m['odenet_spread']:.1f}%), RK-Net MB {_fmt(m['rknet_mb'])} "
                    f"(x{m['rknet_growth']:.1f})")

    logged = {**dataclasses.asdict(cfg), "architecture_config": dataclasses.asdict(arch)}
    return runner.Job("mnist_memory", logged, body, seed=cfg.seed)


def _fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.1f}" for v in values) + "]"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--metrics", default="metrics")
    p.add_argument("--figures", default="reports/figures")
    return p


if __name__ == "__main__":
    runner.main(prepare, parser())
