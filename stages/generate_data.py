"""Stage generate_data: the synthetic datasets under data/: the toy trajectories
(data/toy/<system>.npz) and the irregularly sampled spirals (data/spirals.npz).

Seeded: the same params give byte-identical files.
"""

import argparse
import dataclasses
from pathlib import Path

from neuralode_repro import runner
from neuralode_repro.data.synthetic import GenerateDataConfig, generate


def prepare(ctx: runner.Context) -> runner.Job:
    cfg = ctx.section(GenerateDataConfig, "generate_data")
    out = Path(ctx.args.out)

    def body(_) -> runner.Result:
        stats = generate(cfg, ctx.common.seed, out)
        files = ", ".join(f"{out / 'toy' / n}.npz" for n in sorted(cfg.toy.systems))
        return runner.Result(stats, summary=f"wrote {files} and {out / 'spirals.npz'}")

    return runner.Job("generate_data", dataclasses.asdict(cfg), body)


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, extra={"--out": "output folder (data)"})
