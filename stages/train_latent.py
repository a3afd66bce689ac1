"""Stage train_latent@<model>-<n_obs>: train the latent ODE or the RNN baseline on
irregularly sampled spirals with n_obs observations each (paper sec. 5.1, Table 2)
and write its metrics, training curve and figures (Figs. 8-9)."""

import argparse
import dataclasses
import os
from pathlib import Path

import torch

from neuralode import cli
from neuralode.config import CommonConfig, load_params, load_section
from neuralode.experiments.latent import LatentTrainConfig, check_inputs, run
from neuralode.io import load_arrays
from neuralode.tracking import stage_run
from neuralode.training import resolve_device


def main(args: argparse.Namespace) -> None:
    # (B, <=100) RNN steps and 4-D ODE solves are tiny ops: extra threads cost more
    # in synchronisation than they save, and DVC may share the cores with other work
    torch.set_num_threads(1)
    params = load_params(args.params)
    common = load_section(CommonConfig, "common", args.params, params)
    cfg = load_section(LatentTrainConfig, "train_latent", args.params, params)
    device = resolve_device(common.device)
    data = load_arrays(Path(args.data) / "spirals.npz")
    check_inputs(args.model, args.n_obs, cfg, data)  # fail before an MLflow run starts
    # DVC names matrix stages itself (train_latent@<model>-<n>); use its name when set
    stage = os.environ.get("DVC_STAGE") or f"train_latent@{args.model}-{args.n_obs}"
    resolved = dataclasses.asdict(cfg)
    logged = {**{k: v for k, v in resolved.items() if k != "models"},
              "model": resolved["models"][args.model], "variant": args.model,
              "n_obs": args.n_obs, "device": str(device)}
    name = f"{args.model}_n{args.n_obs}"
    with stage_run(stage, common.mlflow_experiment, logged, profile=common.profile,
                   seed=common.seed) as tracker:
        metrics_dir = Path(args.metrics) / "latent"
        figures = Path(args.figures) / "latent" / name
        metrics = run(args.model, args.n_obs, cfg, data, seed=common.seed, device=device,
                      tracker=tracker, metrics_dir=metrics_dir, figures_dir=figures)
        tracker.log_results(metrics, [metrics_dir / f"{name}.json",
                                      metrics_dir / f"{name}_curve.csv"], figures)
        print(cli.summary(stage, metrics))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="a key of train_latent.models")
    parser.add_argument("--n-obs", type=int, required=True,
                        help="observations per spiral (one of generate_data.spirals.n_obs)")
    parser.add_argument("--data", default="data")
    parser.add_argument("--metrics", default="metrics")
    parser.add_argument("--figures", default="reports/figures")
    cli.run(main, parser)
