"""Stage evaluate_latent@<model>-<n_obs>-<seed>: Table 2's scores of one saved latent
ODE or RNN on the test spirals (paper sec. 5.1): predictive and reconstruction RMSE (a
latent ODE's also by train_latent.tight_solver, beside its training solver); writes
the metrics the report reads (training summary included) and the budget axis: the same
RMSEs of each training snapshot. The model file and the training summary must be those
of the run the command line names."""

import argparse
import dataclasses
from pathlib import Path

from neuralode_repro import runner, runs
from neuralode_repro.artifacts import load_model, read_summary
from neuralode_repro.experiments import latent
from neuralode_repro.io import load_arrays, write_csv, write_json
from neuralode_repro.metrics import compose
from neuralode_repro.snapshots import read_snapshots
from neuralode_repro.tracking import TRAIN_RUN_TAG
from neuralode_repro.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    device = resolve_device(ctx.common.device)
    tight = ctx.section(latent.LatentTrainConfig, "train_latent").tight_solver
    variant, n_obs, seed = args.model, args.n_obs, args.seed
    run = runs.run("latent", model=variant, n_obs=n_obs, seed=seed)
    model, config, meta = load_model(args.weights, latent.model_from_config, device,
                                     expected=run.identity(args.data))
    facts = read_summary(args.summary, run.identity(args.data))
    data = load_arrays(args.data)
    latent.check_model_data(config, data)  # fail before an MLflow run starts
    snapshots = read_snapshots(Path(args.snapshots))

    def body(_) -> runner.Result:
        scores = latent.evaluate_saved(model, data, n_obs, device, tight)
        write_csv(args.budget, latent.evaluate_budget(model, data, n_obs, snapshots, device),
                  ("step", "train_time_s", "pred_rmse", "recon_rmse"))
        write_json(args.metrics, compose(facts, scores))
        return runner.Result(scores, [Path(args.metrics), Path(args.budget)])

    # one forward pass over the test spirals: as train_latent, a single thread is fastest
    return runner.Job(run.stage("evaluate"),
                      {"variant": variant, "n_obs": n_obs, "seed": seed, "device": str(device),
                       "tight_solver": dataclasses.asdict(tight)},
                      body, seed=seed, threads=1,
                      tags={TRAIN_RUN_TAG: str(meta.get("mlflow_run_id", ""))})


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, run="latent", reads=("weights", "summary", "snapshots"),
                         writes=("metrics", "budget"),
                         extra={"--data": "the spirals (data/spirals.npz)"})
