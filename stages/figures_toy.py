"""Stage figures_toy: every toy figure (observations, trajectories, vector fields,
training GIF) of each experiment in train_toy, from its data, saved model, evaluated
trajectory and training snapshots; never trains."""

import argparse
from pathlib import Path

from neuralode_repro import runner
from neuralode_repro.artifacts import load_model
from neuralode_repro.experiments.toy import load_data, model_from_config
from neuralode_repro.figures.toy import draw_all
from neuralode_repro.io import load_arrays

FILES = ("observations.png", "trajectory.png", "vector_field.png", "training.gif")


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    names = sorted(ctx.params.get("train_toy") or {})
    out = Path(args.out)

    def body(_) -> runner.Result:
        for name in names:
            data = load_data(Path(args.data) / f"{name}.npz", name)
            model, _, _ = load_model(Path(args.weights_dir) / f"{name}.pt", model_from_config)
            traj = load_arrays(Path(args.predictions) / f"{name}.npz")["trajectory"]
            snaps = load_arrays(Path(args.weights_dir) / f"{name}_snapshots.npz")
            draw_all(data, model, traj, snaps, out / name)
        files = [(out / name / f, f"figures/{name}") for name in names for f in FILES]
        return runner.Result(files=files, summary=f"figures_toy: drew {', '.join(names)} "
                                                  f"under {out}")

    return runner.Job("figures_toy", {"experiments": names}, body)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True, help="folder of the toy data (data/toy)")
    p.add_argument("--weights-dir", required=True, help="folder of train_toy's model files")
    p.add_argument("--predictions", required=True, help="folder of evaluate_toy's .npz")
    p.add_argument("--out", required=True, help="output folder of the figures")
    return p


if __name__ == "__main__":
    runner.main(prepare, parser())
