"""Stage mnist_memory: peak memory of one MNIST training step against the number of
fixed solver steps, ODE-Net (adjoint, paper sec. 2: O(1)) vs RK-Net (backprop through
the solver: O(L~)); writes metrics/mnist/memory.{json,csv} and memory_vs_nfe.png."""

import argparse
from pathlib import Path

from neuralode import cli
from neuralode.config import CommonConfig, load_params, load_section
from neuralode.experiments.mnist import MnistTrainConfig, model_config
from neuralode.experiments.mnist_memory import MnistMemoryConfig, run
from neuralode.tracking import stage_run
from neuralode.training import resolve_device


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    common = load_section(CommonConfig, "common", args.params, params)
    cfg = load_section(MnistMemoryConfig, "mnist_memory", args.params, params)
    arch = model_config(load_section(MnistTrainConfig, "train_mnist", args.params, params),
                        cfg.architecture)
    device = resolve_device(common.device)
    figures = Path(args.figures) / "mnist"
    metrics_dir = Path(args.metrics) / "mnist"
    with stage_run("mnist_memory", common.mlflow_experiment,
                   {**params["mnist_memory"], "architecture_config": str(arch)},
                   profile=common.profile, seed=cfg.seed) as tracker:
        metrics = run(cfg, arch, metrics_dir=metrics_dir, figures_dir=figures, device=device)
        for kind in ("odenet", "rknet"):
            for nfe, mb in zip(metrics["nfe_forward"], metrics[f"{kind}_mb"], strict=True):
                tracker.log_metrics({f"{kind}_peak_mb": mb}, nfe)
        tracker.log_metrics({k: float(metrics[k]) for k in
                             ("odenet_spread", "rknet_growth", "rknet_mb_per_nfe")})
        for name in ("memory.json", "memory.csv"):
            tracker.log_artifact(metrics_dir / name)
        tracker.log_artifact(figures / "memory_vs_nfe.png", "figures")
        print(f"mnist_memory ({metrics['device']}, batch {cfg.batch_size}): NFE-F "
              f"{metrics['nfe_forward']}; ODE-Net MB {_fmt(metrics['odenet_mb'])} (spread "
              f"{100 * metrics['odenet_spread']:.1f}%), RK-Net MB {_fmt(metrics['rknet_mb'])} "
              f"(x{metrics['rknet_growth']:.1f})")


def _fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.1f}" for v in values) + "]"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", default="metrics")
    parser.add_argument("--figures", default="reports/figures")
    cli.run(main, parser)
