"""The shell commands of README.md's ```bash blocks, and how the README test runs them
in a scratch copy of the repository: each block as one bash script, every command as
written except where a rewrite below says why not (it would run for an hour, install
into the test's venv, or start a server that another test covers)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Rewrite:
    pattern: str  # a regex searched in one command line
    replace: str  # its re.sub replacement
    why: str


REWRITES = (
    Rewrite(r"^make (repro|test|ui)\b", r"make -n \1",
            "make -n: the target exists and expands; for real it installs a venv and runs "
            "the pipeline, which the fixture's profile run did"),
    Rewrite(r"^pip install \./library\b",
            "pip install --dry-run --no-deps --no-build-isolation ./library",
            "builds the library's wheel, installs nothing into the test's venv"),
    Rewrite(r"^(python -m neuralode_repro\.profile run \w+)((?:(?!--queue).)*)$",
            r"\1\2 --queue", "queued, not run: each profile run is minutes to hours"),
    Rewrite(r"^dvc exp run (--temp )?(?!--queue)", "dvc exp run --queue ",
            "queued, not run: queueing parses the -S overrides and rejects unknown keys"),
    Rewrite(r"^dvc queue start\b.*", "dvc queue status",
            "starting the queue would train every queued experiment"),
    Rewrite(r"^mlflow server\b.*", ": mlflow server",
            "a long-running server: tests/test_mlflow_server.py starts it on loopback"),
    Rewrite(r"/mnt/shared/dvc-cache", "$SCRATCH/dvc-cache", "a scratch folder as the remote"),
    Rewrite(r"(exp apply|profile export) smoke\b", r"\1 pytest-tiny",
            "smoke is only queued here; pytest-tiny is the fixture's finished run"),
    Rewrite(r"<exp>", "pytest-tiny", "the fixture's finished run"),
)
# what must never run unrewritten in a test: a whole pipeline or a training queue
LONG = re.compile(r"^(make (repro|test)|dvc exp run (?!--queue)|dvc queue start|"
                  r"python -m neuralode_repro\.profile run (?!.*--queue))")


def blocks(readme: Path = ROOT / "README.md") -> list[list[str]]:
    """Each ```bash block's commands: ``\\`` continuations joined, comments dropped."""
    found = re.findall(r"^```bash\n(.*?)^```", readme.read_text(), re.M | re.S)
    out = []
    for body in found:
        lines = re.sub(r"\\\n\s*", "", body).splitlines()
        cmds = [re.sub(r"(^|\s+)#.*$", "", line).strip() for line in lines]
        out.append([c for c in cmds if c])
    return out


def rewrite(cmd: str) -> tuple[str, list[Rewrite]]:
    """``cmd`` as the test runs it, and the rewrites that applied."""
    used = []
    for rule in REWRITES:
        new = re.sub(rule.pattern, rule.replace, cmd)
        if new != cmd:
            used.append(rule)
            cmd = new
    return cmd, used


def scripts(readme: Path = ROOT / "README.md") -> list[str]:
    """One bash script per block, rewritten, stopping at the first failing command."""
    return ["set -euo pipefail\n" + "\n".join(rewrite(c)[0] for c in block) + "\n"
            for block in blocks(readme)]
