"""Stage report: reports/report.md and a self-contained reports/report.html from the
metrics files and figures earlier stages wrote (never retrains); both are logged to
MLflow as artifacts."""

import argparse
from pathlib import Path

from neuralode import cli
from neuralode.config import CommonConfig, load_params, load_section
from neuralode.report import cnf, latent, mnist, toy
from neuralode.report.build import RunInfo, build, write
from neuralode.report.common import ReportConfig
from neuralode.tracking import git_commit, stage_run

SECTIONS = (mnist.section, latent.section, cnf.section, toy.section)


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    common = load_section(CommonConfig, "common", args.params, params)
    cfg = load_section(ReportConfig, "report", args.params, params)
    reports = Path(args.reports)
    with stage_run("report", common.mlflow_experiment, params["report"],
                   profile=common.profile, seed=common.seed) as tracker:
        info = RunInfo(common.profile, common.seed, git_commit())
        blocks = build(SECTIONS, cfg=cfg, info=info, metrics=Path(args.metrics),
                       reports=reports)
        write(blocks, reports)
        for name in ("report.md", "report.html"):
            tracker.log_artifact(reports / name)
        print(f"wrote {reports / 'report.md'} and {reports / 'report.html'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", default="metrics")
    parser.add_argument("--reports", default="reports")
    cli.run(main, parser)
