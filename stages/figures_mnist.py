"""Stage figures_mnist: every MNIST figure from metrics/mnist: each Table 1 run's
training curves, the learning curve against Table 1, peak memory vs NFE (sec. 2) and
the four panels of Figure 3; never trains or evaluates."""

import argparse
from pathlib import Path

from neuralode_repro import runner, runs
from neuralode_repro.experiments.mnist import MnistTrainConfig
from neuralode_repro.experiments.mnist_memory import MnistMemoryConfig
from neuralode_repro.experiments.nfe_study import NfeStudyConfig
from neuralode_repro.figures.mnist import draw_all
from neuralode_repro.report.paper import TABLE1


def prepare(ctx: runner.Context) -> runner.Job:
    cfg = ctx.section(MnistTrainConfig, "train_mnist")
    study = ctx.section(NfeStudyConfig, "nfe_study")
    mem = ctx.section(MnistMemoryConfig, "mnist_memory")
    # label -> runs: a model of Table 1 by its label (its paper line), others by name
    label = {m: TABLE1[m]["label"].rstrip("†") if m in TABLE1 else m for m in cfg.models}
    stems = {label[m]: [runs.run("mnist", model=m, seed=s).stem for s in cfg.seeds]
             for m in cfg.models}
    studied = runs.run("mnist", model=study.model, seed=study.seed).stem
    paper = {label[m]: TABLE1[m]["error"] for m in cfg.models if m in TABLE1}
    out = Path(ctx.args.out)

    def body(_) -> runner.Result:
        a = ctx.args
        files = draw_all(Path(a.runs), stems, studied, out,
                         memory=Path(a.memory), study=Path(a.study), paper=paper,
                         memory_setup=(mem.batch_size, mem.method))
        return runner.Result(files=[(f, "figures") for f in files],
                             summary=f"figures_mnist: {len(files)} figures under {out}")

    return runner.Job("figures_mnist", {"runs": [r for rs in stems.values() for r in rs],
                                        "nfe_study_run": studied}, body)


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, extra={
        "--runs": "folder of the runs' logs and metrics", "--memory": "mnist_memory's JSON",
        "--study": "nfe_study's JSON", "--out": "output folder of the figures"})
