"""Stage report: reports/report.md and a self-contained reports/report.html from the
metrics files and figures earlier stages wrote (never retrains); both are logged to
MLflow as artifacts."""

import argparse
import dataclasses
from pathlib import Path

from neuralode import runner
from neuralode.report import cnf, latent, mnist, toy
from neuralode.report.build import RunInfo, build, write
from neuralode.report.common import ReportConfig
from neuralode.tracking import git_commit

SECTIONS = (mnist.section, latent.section, cnf.section, toy.section)


def prepare(ctx: runner.Context) -> runner.Job:
    cfg = ctx.section(ReportConfig, "report")
    reports = Path(ctx.args.reports)

    def body(_) -> runner.Result:
        info = RunInfo(ctx.common.profile, ctx.common.seed, git_commit())
        blocks = build(SECTIONS, cfg=cfg, info=info, metrics=Path(ctx.args.metrics),
                       reports=reports)
        write(blocks, reports)
        return runner.Result(files=[reports / "report.md", reports / "report.html"],
                             summary=f"wrote {reports / 'report.md'} and "
                                     f"{reports / 'report.html'}")

    return runner.Job("report", dataclasses.asdict(cfg), body)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--metrics", default="metrics")
    p.add_argument("--reports", default="reports")
    return p


if __name__ == "__main__":
    runner.main(prepare, parser())
