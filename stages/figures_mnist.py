"""Stage figures_mnist: every MNIST figure from metrics/mnist: each Table 1 run's
training curves, peak memory vs NFE (sec. 2) and the four panels of Figure 3; never
trains or evaluates."""

import argparse
from pathlib import Path

from neuralode_repro import runner
from neuralode_repro.experiments.mnist import MnistTrainConfig, run_name
from neuralode_repro.experiments.nfe_study import NfeStudyConfig
from neuralode_repro.figures.mnist import draw_all


def prepare(ctx: runner.Context) -> runner.Job:
    cfg = ctx.section(MnistTrainConfig, "train_mnist")
    study = ctx.section(NfeStudyConfig, "nfe_study")
    runs = [run_name(m, s) for m in cfg.models for s in cfg.seeds]
    out = Path(ctx.args.out)

    def body(_) -> runner.Result:
        a = ctx.args
        files = draw_all(Path(a.runs), runs, run_name(study.model, study.seed), out,
                         memory=Path(a.memory), study=Path(a.study))
        return runner.Result(files=[(f, "figures") for f in files],
                             summary=f"figures_mnist: {len(files)} figures under {out}")

    return runner.Job("figures_mnist", {"runs": runs, "nfe_study_run":
                                        run_name(study.model, study.seed)}, body)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", required=True, help="folder of the runs' logs and metrics")
    p.add_argument("--memory", required=True, help="mnist_memory's JSON")
    p.add_argument("--study", required=True, help="nfe_study's JSON")
    p.add_argument("--out", required=True, help="output folder of the figures")
    return p


if __name__ == "__main__":
    runner.main(prepare, parser())
