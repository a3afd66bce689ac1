"""Stage figures_latent: Figs. 8-9 (reconstructions and extrapolations, latent
projection, z_t0 interpolation; paper sec. 5.1) for every train_latent.models key x
generate_data.spirals.n_obs, from the saved models of the first of train_latent.seeds
and the spirals; never trains. Each model file must be that of its run, trained on
--data."""

import _venv  # noqa: F401, I001  (first: re-runs this stage under .venv if needed)

import argparse
import dataclasses
from pathlib import Path

from neuralode_repro import runner
from neuralode_repro.artifacts import load_model
from neuralode_repro.data.spirals import SpiralConfig
from neuralode_repro.experiments.latent import (
    LatentTrainConfig,
    check_model_data,
    identity,
    model_from_config,
)
from neuralode_repro.figures.config import LatentFigures
from neuralode_repro.figures.latent import draw_run
from neuralode_repro.io import load_arrays
from neuralode_repro.training import resolve_device


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    cfg = ctx.section(LatentFigures, "figures.latent")
    train_cfg = ctx.section(LatentTrainConfig, "train_latent")
    variants, seed = sorted(train_cfg.models), train_cfg.seeds[0]  # figures illustrate
    n_obs = ctx.section(SpiralConfig, "generate_data.spirals").n_obs
    device = resolve_device(ctx.common.device)
    runs = [(v, n) for v in variants for n in n_obs]  # the variants params declare
    data = load_arrays(args.data)
    models = {}
    for v, n in runs:  # every model file loads and fits the data before the run starts
        models[v, n], config, _ = load_model(Path(args.weights_dir) / f"{v}_n{n}-s{seed}.pt",
                                             model_from_config, device,
                                             expected=identity(v, n, seed, args.data))
        check_model_data(config, data)
    out = Path(args.out)

    def body(_) -> runner.Result:
        files = []
        for (v, n), model in models.items():
            files += [(f, f"figures/{v}_n{n}") for f in
                      draw_run(model, data, n, cfg, out / f"{v}_n{n}", f"{v}, {n} observations")]
        return runner.Result(files=files, summary=f"figures_latent: {len(files)} figures "
                                                  f"of {len(runs)} models under {out}")

    logged = {"figures": {"latent": dataclasses.asdict(cfg)}, "device": str(device),
              "runs": [f"{v}_n{n}-s{seed}" for v, n in runs]}
    # small decoder / ODE solves, as train_latent: one thread is fastest
    return runner.Job("figures_latent", logged, body, threads=1)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True, help="the spirals (data/spirals.npz)")
    p.add_argument("--weights-dir", required=True,
                   help="folder of train_latent's model files (<model>_n<n_obs>-s<seed>.pt)")
    p.add_argument("--out", required=True, help="output folder of the figures")
    return p


if __name__ == "__main__":
    runner.main(prepare, parser())
