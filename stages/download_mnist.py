"""Stage download_mnist: a checked copy of MNIST at data/mnist (torchvision layout).

Source, first that is set: ``--mirror``, params ``download_mnist.mirror``, the
``MNIST_MIRROR`` environment variable; else torchvision downloads it. Every file is
checked against its MD5 before anything appears at the output.
"""

import argparse
from pathlib import Path

from neuralode_repro import runner
from neuralode_repro.data.mnist import MnistDownloadConfig, prepare_mnist, resolve_mirror


def prepare(ctx: runner.Context) -> runner.Job:
    cfg = ctx.section(MnistDownloadConfig, "download_mnist")
    mirror = resolve_mirror(ctx.args.mirror or cfg.mirror)

    def body(_) -> runner.Result:
        dest = prepare_mnist(Path(ctx.args.out), mirror=mirror)
        return runner.Result(summary=f"wrote {dest} (from {mirror or 'download'})")

    return runner.Job("download_mnist", {"mirror": str(mirror)}, body)


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, extra={
        "--mirror": ("folder with the four MNIST IDX files (overrides params/env)",
                     {"default": None}),
        "--out": "output folder (data/mnist)"})
