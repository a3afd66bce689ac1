"""Assemble the report from the metrics files and figures the stages wrote.

Never retrains: every number comes from ``metrics/`` and every picture from
``reports/figures/``. A missing file stops the report with the stage to run.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..io import write_text
from ..runtime import cpu_info
from .blocks import Block, Bullets, Figure, Heading, Para, Table, to_html, to_markdown
from .common import SMOKE, Claim, Reader, ReportConfig, read_json
from .stats import RULE
from .summary_figure import draw

Section = Callable[..., tuple[list[Block], list[Claim]]]
TITLE = "Neural Ordinary Differential Equations — reproduction report"


@dataclass(frozen=True)
class RunInfo:
    profile: str
    seed: int
    git_commit: str


def hardware() -> str:
    cpu = cpu_info().get("model name", platform.machine())
    gpu = "no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f"GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {gpu}"


def versions() -> str:
    names = ("torch", "torchvision", "dvc", "mlflow", "numpy")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return f"Python {platform.python_version()}, " + ", ".join(found)


def run_files(reader: Reader) -> dict[str, dict[str, Any]]:
    """The metrics files the sections read (each once; a run's evaluation and its
    training summary), by name relative to the reader's folder."""
    out: dict[str, dict[str, Any]] = {}
    for path, stage in reader.read:
        name = path.relative_to(reader.root).with_suffix("").as_posix()
        if name not in out:
            data = read_json(path, stage)
            if isinstance(data, dict):
                out[name] = data
    return dict(sorted(out.items()))


def wall_times(files: dict[str, dict[str, Any]]) -> list[tuple[str, float]]:
    """(what, seconds) for every stage that records a time: a training summary
    (``*_train.json``: ``train_time_s``, or MNIST's epochs x mean epoch time), an
    evaluation (``eval_time_s``, MNIST's test pass) or a measurement (``wall_time_s``).
    An evaluation file repeats its training summary; those keys count once, there."""
    out = []
    for name, data in files.items():
        if name.endswith("_train"):
            if isinstance(data.get("train_time_s"), int | float):
                out.append((f"{name} (training)", float(data["train_time_s"])))
            elif all(isinstance(data.get(k), int | float) for k in ("epochs", "epoch_time_s")):
                out.append((f"{name} (training)", data["epochs"] * data["epoch_time_s"]))
            continue
        own = {k: v for k, v in data.items() if k not in files.get(f"{name}_train", {})}
        for key, what in (("wall_time_s", ""), ("eval_time_s", " (evaluation)")):
            if isinstance(own.get(key), int | float):
                out.append((f"{name}{what}", float(own[key])))
                break
    return out


PLATFORM_NOTE = (
    "Same code, seed and params reproduce these numbers bit for bit on the same platform "
    "(CPU, torch kernel level, BLAS and thread count; the fingerprint hashes a few BLAS "
    "results, so equal fingerprints are the first check). Another CPU or thread count "
    "rounds BLAS calls differently, and training amplifies that to seed-noise level: the "
    "latent ODE's n = 100 predictive RMSE was 0.472 on one 2-core EPYC and 0.513 on "
    "another, same commit and seed. Bit-identity across machines or thread counts is out "
    "of reach; judge comparisons over seeds.")


def platforms(files: dict[str, dict[str, Any]]) -> list[str]:
    """One line per numerical platform the metrics files record (``runtime`` blocks:
    :func:`neuralode_repro.runtime.describe`, the device included, ``cpu`` too), with the
    thread count of each file that ran on it."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, data in files.items():
        rt = data.get("runtime")
        if not isinstance(rt, dict):
            continue
        key = tuple(str(rt.get(k, "?")) for k in ("torch", "cpu", "capability", "blas",
                                                   "fingerprint", "env", "device"))
        groups.setdefault(key, []).append(f"{name} ({rt.get('threads', '?')})")
    lines = []
    for (torch_v, cpu, cap, blas, fp, env, device), names in groups.items():
        extra = "".join(f", {x}" for x in (env, device) if x not in ("", "?"))
        lines.append(f"torch {torch_v}, {cpu}, kernels {cap}, {blas}{extra}, fingerprint "
                     f"`{fp}`; threads per metrics file: {', '.join(names)}")
    return lines or ["no metrics file records its platform (they predate this report)"]


def build(sections: Sequence[Section], *, cfg: ReportConfig, info: RunInfo, metrics: Path,
          reports: Path) -> list[Block]:
    body: list[Block] = []
    claims: list[Claim] = []
    reader = Reader(metrics)
    for section in sections:
        blocks, found = section(metrics=reader, figures=reports / "figures", root=reports,
                                cfg=cfg)
        body += blocks
        claims += found
    files = run_files(reader)
    summary = draw(claims, reports / "summary.png")  # PNG bytes, or None
    times = wall_times(files)
    smoke = [c.claim for c in claims if c.verdict == SMOKE]
    banner: list[Block] = [Para(
        f"**Smoke run: no verdicts.** {len(smoke)} of {len(claims)} claims come from runs "
        f"that trained fewer than {cfg.smoke_steps} optimizer steps "
        "(`params.yaml:report.smoke_steps`); their numbers check the mechanics only.")
    ] if smoke else []
    head: list[Block] = [
        Heading(TITLE, 1),
        Para(f"Profile **{info.profile}**, seed {info.seed}, git commit `{info.git_commit}`. "
             f"Hardware: {hardware()}. Software: {versions()}."),
        Heading("Summary"),
        *banner,
        *([Figure(Path("summary.png"), "The paper's value (×) against ours (mean and "
                  "interval over seeds), coloured by verdict, for every claim with a "
                  "number in the paper.", data=summary)] if summary else []),
        Table(("claim of the paper", "this run", "convergence over the last doubling",
               "verdict"),
              tuple((c.claim, c.ours, c.convergence, f"**{c.verdict}**") for c in claims)),
        Para("Verdicts (tolerances ε and δ in `params.yaml:report`): " + RULE + " Claims "
             "on a measured property of the solver (memory, Figure 3a-c) or at equal "
             "training cost carry no convergence test (–)."),
        Para("Wall time of each trained model, as its stage measured it (process "
             "start-up, data generation, the memory and NFE studies not included):"),
        Bullets(tuple(f"{name}: {t:.0f} s" for name, t in times)
                + (f"sum: {sum(t for _, t in times):.0f} s",)),
        Para("Numerical platform of the runs, as each stage recorded it:"),
        Bullets(tuple(platforms(files))),
        Para(PLATFORM_NOTE),
    ]
    return head + body


def write(blocks: Sequence[Block], reports: Path) -> None:
    write_text(reports / "report.md", to_markdown(blocks))
    write_text(reports / "report.html", to_html(blocks, reports, TITLE))
