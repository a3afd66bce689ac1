"""Stage train_latent@<model>-<n_obs>-<seed>: train the latent ODE or the RNN baseline
on irregularly sampled training spirals with n_obs observations each (paper sec. 5.1,
Table 2), with one of train_latent.seeds; writes the model file, its per-iteration log,
the training summary and the weight snapshots of the budget axis
(train_latent.budget_points), and logs the model to MLflow."""

import argparse
import dataclasses
from pathlib import Path

from neuralode_repro import runner, runs
from neuralode_repro.experiments.latent import LatentTrainConfig, check_inputs, train
from neuralode_repro.io import load_arrays
from neuralode_repro.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    cfg = ctx.section(LatentTrainConfig, "train_latent")
    device = resolve_device(ctx.common.device)
    data = load_arrays(args.data)
    check_inputs(args.model, args.n_obs, cfg, data, args.seed)  # before an MLflow run starts
    resolved = dataclasses.asdict(cfg)
    logged = {**{k: v for k, v in resolved.items() if k not in ("models", "seeds")},
              "model": resolved["models"][args.model], "variant": args.model,
              "n_obs": args.n_obs, "seed": args.seed, "device": str(device)}

    def body(tracker) -> runner.Result:
        model, facts = train(args.model, args.n_obs, cfg, data, seed=args.seed,
                             data_path=args.data, device=device, tracker=tracker,
                             weights=Path(args.weights), log=Path(args.train_log),
                             summary=Path(args.summary), snapshots=Path(args.snapshots))
        return runner.Result(facts, [Path(args.train_log), Path(args.summary)], model=model)

    # (B, <=100) RNN steps and 4-D ODE solves are tiny ops: extra threads cost more
    # in synchronisation than they save, and DVC may share the cores with other work
    run = runs.run("latent", model=args.model, n_obs=args.n_obs, seed=args.seed)
    return runner.Job(run.stage(), logged, body, seed=args.seed, threads=1)


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, run="latent", writes=("weights", "log", "summary", "snapshots"),
                         extra={"--data": "the spirals (data/spirals.npz)"})
