"""Stage download_mnist: a checked copy of MNIST at data/mnist (torchvision layout).

Source, first that is set: ``--mirror``, params ``download_mnist.mirror``, the
``MNIST_MIRROR`` environment variable; else torchvision downloads it. Every file is
checked against its MD5 before anything appears at the output.
"""

import argparse
from pathlib import Path

from neuralode import cli
from neuralode.config import CommonConfig, load_params, load_section
from neuralode.data.mnist import MnistError, prepare_mnist, resolve_mirror
from neuralode.experiments.mnist import MnistDownloadConfig
from neuralode.tracking import stage_run


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    common = load_section(CommonConfig, "common", args.params, params)
    cfg = load_section(MnistDownloadConfig, "download_mnist", args.params, params)
    mirror = resolve_mirror(args.mirror or cfg.mirror)
    with stage_run("download_mnist", common.mlflow_experiment, {"mirror": str(mirror)},
                   profile=common.profile, seed=common.seed):
        try:
            dest = prepare_mnist(Path(args.out), mirror=mirror)
        except MnistError as err:  # a data problem: one line at the CLI, not a traceback
            raise OSError(str(err)) from None
        print(f"wrote {dest} (from {mirror or 'download'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mirror", default=None,
                        help="folder with the four MNIST IDX files (overrides params/env)")
    parser.add_argument("--out", default="data/mnist", help="output (default: %(default)s)")
    cli.run(main, parser)
