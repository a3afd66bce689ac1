"""Benchmark: neuralode vs torchdiffeq, side by side in one process; then every case
against every peer, torchode included, with gradient accuracy (peers.py); then stage
start-up and the whole pipeline's wall time.

Each case runs both libraries on the same function, inputs, tolerances and thread
count, interleaved A B A B, and reports medians. Printed per case: time ratio
ours/torchdiffeq, NFE on both sides, max abs difference of results and gradients,
and our overhead factor = solve time / (NFE x time of one bare function evaluation),
where 1.0 means all time is spent in the user's function.

    python benchmarks/bench.py [--repeats 30] [--threads 2] [--skip-mnist] [--skip-peers]
                               [--skip-startup] [--skip-pipeline] [--startup-repo DIR]
                               [--out benchmarks/results.md]

Then two more sections. Stage start-up, the seconds from process start to each stage's
body (startup.py): measured on --startup-repo DIR; without it, the committed startup.md,
as a plain checkout has no pipeline outputs for the stages to start from. The whole
pipeline's wall time per profile: never measured here (minutes to hours), read from
benchmarks/pipeline.json, which ``python benchmarks/pipeline.py [--profile tiny]`` records.

A script that prints a table, not a timed test: machines are noisy, ratios are not.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import torch
import torchdiffeq
from cases import Row, case_adjoint, case_forward, case_mnist

from neuralode_repro.io import write_text
from neuralode_repro.report.build import hardware


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{hardware()}, torch {torch.__version__}, torchdiffeq "
            f"{torchdiffeq.__version__}, Python {platform.python_version()}, "
            f"{torch.get_num_threads()} torch threads; load average at the start {load} "
            "(1, 5, 15 min)")


def table(rows: list[Row]) -> str:
    head = ("| case | ours ms | torchdiffeq ms | ratio | NFE ours | NFE torchdiffeq | "
            "max abs diff out | max rel diff grad | overhead |\n" + "|---" * 9 + "|")
    body = [f"| {r.case} | {r.ours_ms:.2f} | {r.ref_ms:.2f} | {r.ratio:.2f} | {r.nfe_ours} | "
            f"{r.nfe_ref} | {r.diff_out:.1e} | "
            f"{'' if r.diff_grad is None else f'{r.diff_grad:.1e}'} | "
            f"{'' if r.overhead is None else f'{r.overhead:.2f}'} |" for r in rows]
    return "\n".join([head, *body])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-mnist", action="store_true")
    parser.add_argument("--skip-peers", action="store_true", help="no torchode section")
    parser.add_argument("--skip-startup", action="store_true", help="no stage start-up section")
    parser.add_argument("--skip-pipeline", action="store_true",
                        help="no whole-pipeline section")
    parser.add_argument("--startup-repo", type=Path, metavar="DIR",
                        help="measure stage start-up on DIR, a repository whose pipeline has "
                        "run (min(3, repeats) probes per stage, ~3 s each); default: show "
                        "the committed benchmarks/startup.md")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results.md"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = machine()
    tiny, mid = (50,), (256, 256)
    compiled, compile_s = case_forward("1c. tiny forward (dopri5), compiled step", tiny, 20,
                                       args.repeats, compile_step=True)
    rows = [
        case_forward("1. tiny forward (dopri5)", tiny, 20, args.repeats)[0],
        compiled,
        case_adjoint("2a. tiny fwd + adjoint bwd", tiny, 20, args.repeats, seminorm=False),
        case_adjoint("2b. tiny fwd + adjoint bwd, seminorm", tiny, 20, args.repeats, True),
        case_adjoint("3. mid-size fwd + adjoint bwd (B=1024, 2-256-256-2)", mid, 1024,
                     max(5, args.repeats // 3), seminorm=False),
        case_forward("5. tiny forward, rk4 step 0.05", tiny, 20, args.repeats,
                     method="rk4", step=0.05)[0],
    ]
    notes = [f"- 1c. `options={{'compile': True}}` (torch.compile of each step, the "
             f"function traced into it): its first call, compilation included, took "
             f"{compile_s:.1f} s; the medians exclude it."]
    if not args.skip_mnist:
        mnist = [("4a. MNIST ODE-Net train step (dopri5 1e-3, adjoint)", {"method": "dopri5"}),
                 ("4b. same, seminorm on both sides", {"method": "dopri5", "seminorm": True}),
                 ("4c. same, rk4 step 0.25 (equal NFE by construction)",
                  {"method": "rk4", "step_size": 0.25})]
        for name, solver in reversed(mnist):
            row, err_o, err_r, budget = case_mnist(name, max(3, args.repeats // 10), solver)
            rows.insert(5, row)
            notes.insert(0, f"- {name[:3]} gradient error against a tight reference (direct "
                         f"backprop, dopri5 at 1e-6), relative L2 over all parameters: ours "
                         f"{err_o:.1e}, torchdiffeq {err_r:.1e}. Time: {budget} ms.")
    if not args.skip_peers:
        from peers import run as peers

        torch.set_num_threads(1)  # the small cases: one thread is fastest on every side
        notes.append("\n" + peers(args.repeats))
        torch.set_num_threads(args.threads)
    if not args.skip_startup:
        import startup

        notes.append("\n" + startup.section(args.startup_repo, min(3, args.repeats)))
    if not args.skip_pipeline:
        import pipeline

        notes.append("\n" + pipeline.section())
    text = (f"# Benchmark: neuralode vs torchdiffeq and torchode\n\nMachine: {start}.\n"
            f"Command: `{' '.join(['python benchmarks/bench.py', *(argv or sys.argv[1:])])}`. "
            f"Medians of {args.repeats} interleaved runs (fewer for cases 3-4).\n\n"
            f"{table(rows)}\n\nRatio < 1: ours faster. NFE a+b: forward + backward "
            "evaluations. Overhead: solve time / (NFE x one bare evaluation); for adjoint "
            "cases 2-3 a vector-Jacobian product is counted as 3 evaluations; for case 4 the "
            "floor is NFE-F bare evaluations + NFE-B measured evaluation-plus-VJPs. rk4 "
            "differs by "
            "tableau (torchdiffeq's rk4 is the 3/8 rule), hence the small result gap.\n"
            + ("\n" + "\n".join(notes) + "\n" if notes else ""))
    print(text)
    write_text(args.out, text)


if __name__ == "__main__":
    main()
