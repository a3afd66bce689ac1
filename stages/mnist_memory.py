"""Stage mnist_memory: peak memory of one MNIST training step against the number of
fixed solver steps, ODE-Net (adjoint, paper sec. 2: O(1)) vs RK-Net (backprop through
the solver: O(L~)); writes memory.json and memory.csv (figures_mnist draws them)."""

import argparse
import dataclasses
from pathlib import Path

from neuralode_repro import runner
from neuralode_repro.experiments.mnist import MnistTrainConfig, model_config
from neuralode_repro.experiments.mnist_memory import MnistMemoryConfig, run
from neuralode_repro.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    cfg = ctx.section(MnistMemoryConfig, "mnist_memory")
    arch = model_config(ctx.section(MnistTrainConfig, "train_mnist"), cfg.architecture)
    device = resolve_device(ctx.common.device)

    def body(tracker) -> runner.Result:
        m = run(cfg, arch, json_path=Path(ctx.args.metrics), csv_path=Path(ctx.args.table),
                device=device)
        for kind in ("odenet", "rknet"):
            for nfe, mb in zip(m["nfe_forward"], m[f"{kind}_mb"], strict=True):
                tracker.log_metrics({f"{kind}_peak_mb": mb}, nfe)
        return runner.Result(
            {k: float(m[k]) for k in ("odenet_spread", "rknet_growth", "rknet_mb_per_nfe")},
            [Path(ctx.args.metrics), Path(ctx.args.table)],
            summary=f"mnist_memory ({m['runtime']['device']}, batch {cfg.batch_size}): NFE-F "
                    f"{m['nfe_forward']}; ODE-Net MB {_fmt(m['odenet_mb'])} (spread "
                    f"{100 * m['odenet_spread']:.1f}%), RK-Net MB {_fmt(m['rknet_mb'])} "
                    f"(x{m['rknet_growth']:.1f})")

    logged = {**dataclasses.asdict(cfg), "architecture_config": dataclasses.asdict(arch)}
    return runner.Job("mnist_memory", logged, body, seed=cfg.seed)


def _fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.1f}" for v in values) + "]"


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, extra={"--metrics": "output: metrics JSON",
                                         "--table": "output: CSV of the sweep (dvc plots)"})
