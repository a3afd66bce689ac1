"""Stage generate_data: the synthetic datasets (toy trajectories) under data/.

Seeded: the same params give byte-identical files.
"""

import argparse
from pathlib import Path

from neuralode import cli
from neuralode.config import CommonConfig, load_params, load_section
from neuralode.data.toy import ToyDataConfig, generate_toy
from neuralode.io import save_arrays
from neuralode.tracking import stage_run


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    common = load_section(CommonConfig, "common", args.params, params)
    toy = load_section(ToyDataConfig, "generate_data.toy", args.params, params)
    with stage_run("generate_data", common.mlflow_experiment, params["generate_data"],
                   profile=common.profile, seed=common.seed) as tracker:
        for i, (name, system) in enumerate(sorted(toy.systems.items())):
            arrays = generate_toy(system, toy, seed=common.seed + i)
            path = Path(args.out) / "toy" / f"{name}.npz"
            save_arrays(path, arrays)
            tracker.log_metrics({f"toy.{name}.noise_rms": float(
                ((arrays["obs"] - arrays["true"]) ** 2).mean() ** 0.5)})
            print(f"wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="data", help="output folder (default: %(default)s)")
    cli.run(main, parser)
