"""Stage train_latent@<model>-<n_obs>: train the latent ODE or the RNN baseline on
irregularly sampled spirals with n_obs observations each (paper sec. 5.1, Table 2)
and write its metrics, training curve and figures (Figs. 8-9)."""

import argparse
import dataclasses
from pathlib import Path

from neuralode import runner
from neuralode.experiments.latent import LatentTrainConfig, check_inputs, run
from neuralode.io import load_arrays
from neuralode.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    cfg = ctx.section(LatentTrainConfig, "train_latent")
    device = resolve_device(ctx.common.device)
    data = load_arrays(Path(args.data) / "spirals.npz")
    check_inputs(args.model, args.n_obs, cfg, data)  # fail before an MLflow run starts
    resolved = dataclasses.asdict(cfg)
    logged = {**{k: v for k, v in resolved.items() if k != "models"},
              "model": resolved["models"][args.model], "variant": args.model,
              "n_obs": args.n_obs, "device": str(device)}
    name = f"{args.model}_n{args.n_obs}"
    metrics_dir = Path(args.metrics) / "latent"
    figures = Path(args.figures) / "latent" / name

    def body(tracker) -> runner.Result:
        metrics = run(args.model, args.n_obs, cfg, data, seed=ctx.common.seed, device=device,
                      tracker=tracker, metrics_dir=metrics_dir, figures_dir=figures)
        return runner.Result(metrics, [metrics_dir / f"{name}.json",
                                       metrics_dir / f"{name}_curve.csv"], figures)

    # (B, <=100) RNN steps and 4-D ODE solves are tiny ops: extra threads cost more
    # in synchronisation than they save, and DVC may share the cores with other work
    return runner.Job(f"train_latent@{args.model}-{args.n_obs}", logged, body, threads=1)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="a key of train_latent.models")
    p.add_argument("--n-obs", type=int, required=True,
                   help="observations per spiral (one of generate_data.spirals.n_obs)")
    p.add_argument("--data", default="data")
    p.add_argument("--metrics", default="metrics")
    p.add_argument("--figures", default="reports/figures")
    return p


if __name__ == "__main__":
    runner.main(prepare, parser())
