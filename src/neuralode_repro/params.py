"""The whole params file against its schema: every section's frozen dataclass.

A stage checks only the sections it reads, when it runs. ``python -m neuralode_repro.params
check`` (run by ``make repro`` before ``dvc repro``, and by ``profile apply`` before it
writes) checks every section at once, so a typo in a late stage's section stops the
pipeline before the first stage, not an hour later; ``check`` also runs the command
guard of :mod:`neuralode_repro.cmdguard` on dvc.yaml beside the params file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import cmdguard
from .config import SECTIONS, CommonConfig, ConfigError, load_params, parse


def schema() -> dict[str, Any]:
    """Section name -> dataclass (a ``foreach`` section: a mapping of them)."""
    from .data.mnist import MnistDownloadConfig
    from .data.synthetic import GenerateDataConfig
    from .experiments.cnf import CNFEvalConfig, CNFTrainConfig
    from .experiments.latent import LatentTrainConfig
    from .experiments.mnist import MnistTrainConfig
    from .experiments.mnist_memory import MnistMemoryConfig
    from .experiments.nfe_study import NfeStudyConfig
    from .experiments.toy import ToySectionConfig
    from .figures.config import FiguresConfig
    from .report.common import ReportConfig

    out = {"common": CommonConfig, "generate_data": GenerateDataConfig,
           "train_toy": ToySectionConfig, "download_mnist": MnistDownloadConfig,
           "train_mnist": MnistTrainConfig, "mnist_memory": MnistMemoryConfig,
           "nfe_study": NfeStudyConfig, "train_latent": LatentTrainConfig,
           "train_cnf": CNFTrainConfig, "evaluate_cnf": CNFEvalConfig,
           "figures": FiguresConfig, "report": ReportConfig}
    if tuple(out) != SECTIONS:  # one list of sections: config.SECTIONS
        raise RuntimeError(f"schema sections {tuple(out)} differ from {SECTIONS}")
    return out


def validate(params: Mapping[str, Any], where: str = "params.yaml") -> None:
    """Parse every section of ``params`` (a loaded params file); the first bad value
    raises :class:`ConfigError` naming its key."""
    unknown = sorted(str(k) for k in params if k not in SECTIONS)
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(map(repr, unknown))}; "
                          f"allowed: {', '.join(SECTIONS)}")
    for name, cls in schema().items():
        if name not in params:
            continue
        if isinstance(cls, type):
            parse(cls, params[name], f"{where}:{name}")
            continue
        entries = params[name]
        if not isinstance(entries, Mapping) or not entries:
            raise ConfigError(f"{where}:{name}: expected a mapping of named entries, got "
                              f"{entries!r}")
        (entry_cls,) = cls.__args__[1:]
        for key, value in entries.items():
            parse(entry_cls, value, f"{where}:{name}.{key}")
    systems = params.get("generate_data", {}).get("toy", {}).get("systems", {})
    for key in params.get("train_toy", {}).get("systems", {}):
        if systems and key not in systems:  # train_toy@<key>-<seed> reads data/toy/<key>.npz
            raise ConfigError(f"{where}:train_toy.systems.{key}: no toy system {key!r} in "
                              f"generate_data.toy.systems ({', '.join(systems)}); add it "
                              f"there or remove train_toy.systems.{key}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m neuralode_repro.params",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["check"])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        validate(params, args.params.name)
        dvc_yaml = args.params.parent / "dvc.yaml"
        if dvc_yaml.is_file():  # the values dvc.yaml passes to a shell: plain names only
            cmdguard.check(cmdguard.read_dvc_yaml(dvc_yaml), params, args.params.name)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    print(f"{args.params}: every section is valid")


if __name__ == "__main__":
    main()
