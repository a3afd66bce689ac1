"""Stage figures_cnf: every figure of the CNF vs planar NF experiments (paper sec. 4.1,
Figs. 4-5) for the runs train_cnf declares (the panels show the first of
train_cnf.seeds; Fig. 4 (d) every seed), from the saved models, the evaluation metrics
and the training logs; never trains. Each model file must be that of its run
(checked where draw_all loads it)."""

import argparse
import dataclasses
from pathlib import Path

from neuralode_repro import runner
from neuralode_repro.experiments.cnf import CNFEvalConfig, CNFTrainConfig
from neuralode_repro.figures.cnf import draw_all
from neuralode_repro.figures.config import CNFFiguresConfig


def prepare(ctx: runner.Context) -> runner.Job:
    args = ctx.args
    figs = ctx.section(CNFFiguresConfig, "figures.cnf")
    train = ctx.section(CNFTrainConfig, "train_cnf")
    ev = ctx.section(CNFEvalConfig, "evaluate_cnf")
    targets, widths = list(train.ml.targets), list(train.capacity.widths)
    solvers = {"ml": ev.ml.solver, "capacity": ev.capacity.solver}
    out = Path(args.out)

    def body(_) -> runner.Result:
        files = draw_all(targets, widths, train.seeds, figs, solvers, Path(args.weights_dir),
                         Path(args.metrics_dir), out)
        return runner.Result(files=[(f, f"figures/{f.parent.name}") for f in files],
                             summary=f"figures_cnf: drew {len(files)} figures under {out}")

    resolved = {"targets": targets, "widths": widths, "seeds": list(train.seeds),
                "figures": dataclasses.asdict(figs),
                "solvers": {k: dataclasses.asdict(v) for k, v in solvers.items()}}
    # the models run on the CPU, single-threaded: 2-D points, as in training
    return runner.Job("figures_cnf", resolved, body, threads=1)


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, folders=("--weights-dir", "--metrics-dir", "--out"))
