"""Stage report: reports/report.md, a self-contained reports/report.html and their
summary figure reports/summary.png from the metrics files and figures earlier stages
wrote (never retrains); all are logged to MLflow as artifacts."""

import argparse
import dataclasses
import functools
from pathlib import Path

from neuralode_repro import runner
from neuralode_repro.config import ConfigError
from neuralode_repro.data.spirals import SpiralConfig
from neuralode_repro.data.toy import ToyDataConfig
from neuralode_repro.experiments.cnf import CNFEvalConfig, CNFTrainConfig
from neuralode_repro.experiments.latent import LatentTrainConfig
from neuralode_repro.experiments.mnist import MnistTrainConfig
from neuralode_repro.experiments.mnist_memory import MnistMemoryConfig
from neuralode_repro.experiments.nfe_study import NfeStudyConfig
from neuralode_repro.experiments.toy import ToySectionConfig
from neuralode_repro.report import cnf, latent, mnist, toy
from neuralode_repro.report.blocks import Figure
from neuralode_repro.report.build import RunInfo, build, write
from neuralode_repro.report.common import ReportConfig
from neuralode_repro.report.paper import TABLE2
from neuralode_repro.tracking import git_commit


def prepare(ctx: runner.Context) -> runner.Job:
    cfg = ctx.section(ReportConfig, "report")
    reports = Path(ctx.args.reports)
    # Table 2's rows: the n_obs this run generated that the paper reports (30, 50, 100)
    spirals = ctx.section(SpiralConfig, "generate_data.spirals")
    n_obs = tuple(n for n in spirals.n_obs if n in TABLE2["latent_ode"])
    if not n_obs:
        raise ConfigError("generate_data.spirals.n_obs: none of the paper's Table 2 values "
                          f"{sorted(TABLE2['latent_ode'])} is generated; add one")
    latent_cfg = ctx.section(LatentTrainConfig, "train_latent")
    seeds = latent_cfg.seeds
    mnist_cfg = ctx.section(MnistTrainConfig, "train_mnist")
    cnf_cfg = ctx.section(CNFTrainConfig, "train_cnf")
    toy_data = ctx.section(ToyDataConfig, "generate_data.toy")
    toy_cfg = ctx.section(ToySectionConfig, "train_toy")
    # the seeds name the runs to read; the configs fill each "where it comes from" table
    sections = (functools.partial(mnist.section, seeds=mnist_cfg.seeds, train=mnist_cfg,
                                  memory=ctx.section(MnistMemoryConfig, "mnist_memory"),
                                  study=ctx.section(NfeStudyConfig, "nfe_study")),
                functools.partial(latent.section, n_obs=n_obs, seeds=seeds, spirals=spirals,
                                  variants=tuple(latent_cfg.models),
                                  tight_tol=latent_cfg.tight_solver.rtol),
                functools.partial(cnf.section, seeds=cnf_cfg.seeds, train=cnf_cfg,
                                  ev=ctx.section(CNFEvalConfig, "evaluate_cnf")),
                functools.partial(toy.section, n_points=toy_data.n_points,
                                  seeds=toy_cfg.seeds, train=toy_cfg, data=toy_data))

    def body(_) -> runner.Result:
        info = RunInfo(ctx.common.profile, ctx.common.seed, git_commit())
        blocks = build(sections, cfg=cfg, info=info, metrics=Path(ctx.args.metrics),
                       reports=reports)
        write(blocks, reports)
        summary = [reports / b.path for b in blocks if isinstance(b, Figure) and b.data]
        return runner.Result(files=[reports / "report.md", reports / "report.html", *summary],
                             summary=f"wrote {reports / 'report.md'} and "
                                     f"{reports / 'report.html'}")

    return runner.Job("report", dataclasses.asdict(cfg), body)


def parser() -> argparse.ArgumentParser:
    return runner.parser(__doc__, extra={"--metrics": "the metrics folder it reads",
                                         "--reports": "output folder of report.md/.html"})
