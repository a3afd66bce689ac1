"""Stage generate_data: the synthetic datasets under data/: the toy trajectories
(data/toy/<system>.npz) and the irregularly sampled spirals (data/spirals.npz).

Seeded: the same params give byte-identical files.
"""

import argparse
from pathlib import Path

from neuralode import cli
from neuralode.config import CommonConfig, load_params, load_section
from neuralode.data.spirals import SpiralConfig, generate_spirals
from neuralode.data.toy import ToyDataConfig, generate_toy
from neuralode.io import save_arrays
from neuralode.tracking import stage_run


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    common = load_section(CommonConfig, "common", args.params, params)
    toy = load_section(ToyDataConfig, "generate_data.toy", args.params, params)
    spirals = load_section(SpiralConfig, "generate_data.spirals", args.params, params)
    with stage_run("generate_data", common.mlflow_experiment, params["generate_data"],
                   profile=common.profile, seed=common.seed) as tracker:
        for i, (name, system) in enumerate(sorted(toy.systems.items())):
            arrays = generate_toy(system, toy, seed=common.seed + i)
            path = Path(args.out) / "toy" / f"{name}.npz"
            save_arrays(path, arrays)
            tracker.log_metrics({f"toy.{name}.noise_rms": float(
                ((arrays["obs"] - arrays["true"]) ** 2).mean() ** 0.5)})
            print(f"wrote {path}")
        arrays = generate_spirals(spirals, seed=common.seed)
        save_arrays(Path(args.out) / "spirals.npz", arrays)
        tracker.log_metrics({"spirals.n_train": len(arrays["train_idx"]),
                             "spirals.n_test": len(arrays["test_idx"])})
        print(f"wrote {Path(args.out) / 'spirals.npz'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="data", help="output folder (default: %(default)s)")
    cli.run(main, parser)
