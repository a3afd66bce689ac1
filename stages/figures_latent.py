"""Stage figures_latent: Figs. 8-9 (reconstructions and extrapolations, latent
projection, z_t0 interpolation; paper sec. 5.1) for every train_latent.models key x
generate_data.spirals.n_obs, from the saved models of the first of train_latent.seeds
and the spirals, and the predictive RMSE against training iterations of every seed
(evaluate_latent's budget CSVs) beside Table 2's; never trains. Each model file must
be that of its run, trained on --data."""

import argparse
import dataclasses
from pathlib import Path

from neuralode_repro import runner, runs
from neuralode_repro.artifacts import load_model
from neuralode_repro.data.spirals import SpiralConfig
from neuralode_repro.experiments import latent
from neuralode_repro.figures.config import LatentFigures
from neuralode_repro.figures.latent import draw_run, rmse_budget
from neuralode_repro.io import load_arrays, read_csv
from neuralode_repro.report.paper import TABLE2
from neuralode_repro.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    cfg = ctx.section(LatentFigures, "figures.latent")
    train_cfg = ctx.section(latent.LatentTrainConfig, "train_latent")
    variants, seed = sorted(train_cfg.models), train_cfg.seeds[0]  # figures illustrate
    n_obs = ctx.section(SpiralConfig, "generate_data.spirals").n_obs
    device = resolve_device(ctx.common.device)
    drawn = runs.grid("latent", model=variants, n_obs=n_obs, seed=[seed])  # params' variants
    data = load_arrays(args.data)
    models = {}
    for run in drawn:  # every model file loads and fits the data before the run starts
        models[run["model"], run["n_obs"]], config, _ = load_model(
            Path(args.weights_dir) / run.file("weights"), latent.model_from_config, device,
            expected=run.identity(args.data))
        latent.check_model_data(config, data)
    metrics = Path(args.metrics_dir)
    curves = {n: {v: [read_csv(metrics / r.file("budget"))
                      for r in runs.grid("latent", model=[v], n_obs=[n], seed=train_cfg.seeds)]
                  for v in variants} for n in n_obs}  # every seed: the spread is the point
    out = Path(args.out)

    def body(_) -> runner.Result:
        files = []
        for (v, n), model in models.items():
            files += [(f, f"figures/{v}_n{n}") for f in
                      draw_run(model, data, n, cfg, out / f"{v}_n{n}", f"{v}, {n} observations")]
        rmse_budget(curves, TABLE2, out / "rmse_budget.png")
        files.append((out / "rmse_budget.png", "figures"))
        return runner.Result(files=files, summary=f"figures_latent: {len(files)} figures "
                                                  f"of {len(drawn)} models under {out}")

    logged = {"figures": {"latent": dataclasses.asdict(cfg)}, "device": str(device),
              "runs": [r.stem for r in drawn],
              "budget_seeds": list(train_cfg.seeds)}
    # small decoder / ODE solves, as train_latent: one thread is fastest
    return runner.Job("figures_latent", logged, body, threads=1)


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, folders=("--weights-dir", "--metrics-dir", "--out"),
                         extra={"--data": "the spirals (data/spirals.npz)"})
