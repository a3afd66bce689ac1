"""Benchmark: stage start-up, the seconds from process start to the first line of a
stage's own work (its body, inside the MLflow run): Python and the imports, params,
inputs, the MLflow run. Every `dvc repro` stage pays it once.

Runs one command per stage of a repository whose pipeline has run (its ``dvc.lock``
names the commands; e.g. the copy that the pipeline test leaves, or the checkout after
`make repro`), each under a probe that stops it where its body would start, so nothing
is written but a failed run in a scratch MLflow store. Medians over ``--repeat``.

    python benchmarks/startup.py [--repo .] [--repeat 3] [--out FILE]

bench.py prints this table (:func:`section`): measured with ``--startup-repo DIR``,
otherwise the committed startup.md with where it came from.

A script that prints a table, not a timed test: machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import runpy
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from benchutil import git

from neuralode_repro.cmdguard import stage_command

_T0 = "STARTUP_BENCH_T0"


class _Probe(BaseException):
    """Raised where the stage body would start (BaseException: no stage catches it)."""


def probe(script: str, argv: list[str]) -> None:
    """In the child: run ``script`` as ``__main__``; print the seconds since the parent
    spawned it when its body is reached, and stop there."""
    from neuralode_repro import runner

    execute = runner.execute

    def stop(tracker):
        raise _Probe(time.time() - float(os.environ[_T0]))

    def probed(prepare, args):
        import dataclasses

        return execute(lambda ctx: dataclasses.replace(prepare(ctx), body=stop), args)

    runner.execute = probed
    sys.argv = [script, *argv]
    sys.path.insert(0, str(Path(script).resolve().parent))
    try:
        runpy.run_path(script, run_name="__main__")
    except _Probe as reached:
        print(f"startup_s={reached.args[0]:.3f}")
        sys.stdout.flush()
        os._exit(0)
    sys.exit("the stage finished without reaching its body: not a runner stage?")


def commands(repo: Path) -> dict[str, list[str]]:
    """One command per stage (the first entry of each foreach/matrix), from dvc.lock."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    out: dict[str, list[str]] = {}
    for name, entry in lock.items():
        out.setdefault(name.split("@")[0], shlex.split(stage_command(entry["cmd"])))
    return out


def measure(repo: Path, cmd: list[str], env: dict[str, str]) -> float:
    if cmd[0] != "python" or not cmd[1].startswith("stages/"):
        raise SystemExit(f"unexpected stage command {cmd!r}: expected python stages/<x>.py")
    env = {**env, _T0: repr(time.time())}
    out = subprocess.run([sys.executable, __file__, "--probe", *cmd[1:]], cwd=repo,
                         env=env, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("startup_s="):
            return float(line.split("=", 1)[1])
    raise SystemExit(f"{' '.join(cmd)} did not reach its body ({out.returncode}):\n"
                     f"{out.stderr[-2000:]}")


Row = tuple[str, float, float]  # stage, median s, min s
STARTUP_MD = Path(__file__).with_name("startup.md")


def measure_all(repo: Path, repeat: int) -> list[Row]:
    """Start-up of every stage of ``repo`` (a repository whose pipeline has run), median
    and min over ``repeat`` probes each, in a scratch MLflow store; progress on stderr."""
    repo = repo.resolve()
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{scratch}/startup.db",
               "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": f"{repo}/src:{repo}/library"}
        cmds = commands(repo)
        measure(repo, next(iter(cmds.values())), env)  # creates the scratch store
        rows = []
        for stage, cmd in cmds.items():
            times = [measure(repo, cmd, env) for _ in range(repeat)]
            rows.append((stage, statistics.median(times), min(times)))
            print(f"{stage:32s} {rows[-1][1]:6.2f} s", file=sys.stderr)
    return rows


def _git(repo: Path, *args: str) -> str:
    """``git args`` in ``repo``; empty when git or the repository is missing."""
    ok, text = git(repo, *args)
    return text if ok else ""


def markdown(rows: list[Row], repeat: int, repo: Path, load: tuple[float, ...]) -> str:
    """The table, headed by when, where and on which commit it was measured."""
    from neuralode_repro.report.build import hardware

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    commit = _git(repo, "rev-parse", "--short", "HEAD") or "unknown commit"
    loads = ", ".join(f"{x:.1f}" for x in load)
    lines = [f"Stage start-up (process start -> body), median of {repeat}; measured {when} "
             f"on {commit}; {hardware()}; load average at the start {loads} (1, 5, 15 min)",
             "", "| stage | median s | min s |", "|---|---|---|",
             *[f"| {s} | {m:.2f} | {lo:.2f} |" for s, m, lo in rows],
             f"| **all {len(rows)}** | {sum(r[1] for r in rows):.1f} | |"]
    return "\n".join(lines) + "\n"


def section(repo: Path | None, repeat: int = 3) -> str:
    """bench.py's "Stage start-up" section: measured on ``repo`` when given (a repository
    whose pipeline has run); otherwise the committed startup.md, saying so. A plain
    checkout cannot be measured: its data/ is empty, and a stage with inputs stops
    before its body (e.g. train_toy: data/toy/linear.npz not found)."""
    head = "## Stage start-up: seconds from process start to the stage body\n\n"
    if repo is not None:
        load = os.getloadavg()
        return head + markdown(measure_all(repo, repeat), repeat, repo, load)
    how = ("`python benchmarks/startup.py --repo DIR --out benchmarks/startup.md` (or "
           "`bench.py --startup-repo DIR`) measures it on DIR, a repository whose pipeline "
           "has run, e.g. the clone that `python benchmarks/pipeline.py --keep` leaves "
           "(after `--profile tiny`, `dvc exp apply <experiment>` in it first: a profile "
           "runs in a temporary workspace)")
    if not STARTUP_MD.is_file():
        return head + f"Not measured, and no record ({STARTUP_MD.name} is missing): {how}.\n"
    here = STARTUP_MD.parent
    rel = STARTUP_MD.name
    log = _git(here, "log", "-1", "--format=%h of %cs", "--", rel)
    dirty = _git(here, "status", "--porcelain", "--", rel)
    origin = (f"as committed in {log}" if log else "not committed") + (
        ", with uncommitted changes" if dirty else "")
    return (head + f"Not measured by this run: a plain checkout has no pipeline outputs, "
            f"so most stages stop before their body. The record below is "
            f"benchmarks/{rel} {origin}; {how}.\n\n" + STARTUP_MD.read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", type=Path, default=Path("."),
                   help="a repository whose pipeline has run (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = p.parse_args()
    load = os.getloadavg()
    text = markdown(measure_all(args.repo, args.repeat), args.repeat, args.repo.resolve(),
                    load)
    print(text)
    if args.out:
        from neuralode_repro.io import write_text

        write_text(args.out, text)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--probe":
        probe(sys.argv[2], sys.argv[3:])
    else:
        main()
