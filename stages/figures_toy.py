"""Stage figures_toy: every toy figure (observations, trajectories, vector fields,
training GIF) of each experiment in train_toy.systems, from its data, and the saved
model, evaluated trajectory and training snapshots of the first seed; never trains. Each
model file must be that of its experiment and seed, trained on its data file."""

import argparse
from pathlib import Path

from neuralode_repro import runner, runs
from neuralode_repro.artifacts import load_model
from neuralode_repro.experiments.toy import ToySectionConfig, load_data, model_from_config
from neuralode_repro.figures.toy import draw_all
from neuralode_repro.io import load_arrays

FILES = ("observations.png", "trajectory.png", "vector_field.png", "training.gif")


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    toy = ctx.section(ToySectionConfig, "train_toy")
    names, seed = sorted(toy.systems), toy.seeds[0]
    out, weights, preds = Path(args.out), Path(args.weights_dir), Path(args.predictions)

    def body(_) -> runner.Result:
        for name in names:
            path = Path(args.data) / f"{name}.npz"
            data = load_data(path, name)
            run = runs.run("toy", name=name, seed=seed)
            model, _, _ = load_model(weights / run.file("weights"), model_from_config,
                                     expected=run.identity(path))
            traj = load_arrays(preds / run.file("predictions"))["trajectory"]
            snaps = load_arrays(weights / run.file("snapshots"))
            draw_all(data, model, traj, snaps, out / name)
        files = [(out / name / f, f"figures/{name}") for name in names for f in FILES]
        return runner.Result(files=files, summary=f"figures_toy: drew {', '.join(names)} "
                                                  f"(seed {seed}) under {out}")

    return runner.Job("figures_toy", {"experiments": names, "seed": seed}, body)


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, folders=("--weights-dir", "--out"),
                         extra={"--data": "folder of the toy data (data/toy)",
                                "--predictions": "folder of evaluate_toy's .npz"})
