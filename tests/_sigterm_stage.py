"""Run by tests/test_sigterm.py: a stage through the real runner whose body stages an
output, says so (``--ready``) and then trains on for minutes: SIGTERM comes meanwhile."""

import argparse
import time
from pathlib import Path

from neuralode_repro import io, runner


def prepare(ctx: runner.Context) -> runner.Job:
    def body(tracker) -> runner.Result:
        io.write_json(ctx.args.out, {"half": "written"})  # staged: not published yet
        Path(ctx.args.ready).touch()
        time.sleep(300)
        return runner.Result({"never": 1.0})

    return runner.Job("sigterm_stand_in", {"sleep": 300}, body)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--ready", required=True)
    runner.main(prepare, p)
