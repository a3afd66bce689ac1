"""DDP via torchrun: 2 gloo processes average gradients like one process on the
concatenated batch; a stage's own launch of N processes reports a failed one in one
line and ends them all on SIGTERM."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import torch

from tests.test_listeners import ddp_pair

WORKER = Path(__file__).with_name("_ddp_worker.py")


def _run(args, out):
    res = subprocess.run([sys.executable, *args, str(WORKER), str(out)], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return torch.load(out, weights_only=True)


def test_two_gloo_processes_match_single_process(tmp_path):
    single = _run([], tmp_path / "single.pt")
    ddp = _run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"],
               tmp_path / "ddp.pt")
    for a, b in zip(single, ddp, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # and the run really moved the parameters (the comparison is not vacuous)
    torch.manual_seed(0)
    init = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    assert (init[0].weight - single[0]).abs().max() > 1e-3


FAILING = """import os, sys
import torch
from neuralode_repro import distributed
distributed.relaunch(2, torch.device("cpu"))
sys.exit(3 if os.environ["RANK"] == "1" else 0)
"""


def test_a_failed_process_fails_the_launch_with_one_line(tmp_path):
    """`train_mnist.nproc: 2` with one process failing: status 1 and one error line (the
    process has printed its own), not torchrun's traceback; no temporary files left."""
    (tmp_path / "fail.py").write_text(FAILING)
    temp = tmp_path / "tmp"
    temp.mkdir()
    res = subprocess.run([sys.executable, str(tmp_path / "fail.py")], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "TMPDIR": str(temp)})
    assert res.returncode == 1, res.stderr[-3000:]
    assert res.stderr.splitlines()[-1] == ("error: 1 of 2 processes failed; rank 1 exited "
                                           "with status 3 first (its own lines above say why)")
    assert "Traceback" not in res.stderr
    assert not list(temp.iterdir())


def test_sigterm_stops_every_process_of_a_launch(tmp_path):
    """SIGTERM to the stage that launched 2 processes: they end too, and it exits 143."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    with ddp_pair(tmp_path, temp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        workers = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-3000:]
    assert len(workers) == 2 and not any(w.is_running() for w in workers)
    assert not list(temp.iterdir())


def _failure(rank, exitcode, timestamp):
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

    failure = ProcessFailure(local_rank=rank, pid=1000 + rank, exitcode=exitcode,
                             error_file="/nonexistent")
    failure.timestamp = timestamp
    return failure


def test_the_processes_torchrun_stopped_are_not_named_as_the_cause():
    """Rank 1 exits 3; torchrun then stops rank 0 with SIGTERM in the same second. The
    line names rank 1 and counts one failure (CI once printed "2 of 2" here)."""
    from neuralode_repro.distributed import describe_failures

    failures = {0: _failure(0, -signal.SIGTERM, 100), 1: _failure(1, 3, 100)}
    assert describe_failures(failures, 2) == (
        "error: 1 of 2 processes failed; rank 1 exited with status 3 first "
        "(its own lines above say why)")
    # a user's SIGTERM to a worker: every failure is a SIGTERM, the earliest is named
    failures = {0: _failure(0, -signal.SIGTERM, 101), 1: _failure(1, -signal.SIGTERM, 100)}
    assert describe_failures(failures, 2) == (
        "error: 2 of 2 processes failed; rank 1 was killed by signal 15 first "
        "(its own lines above say why)")
    # two processes that failed on their own in the same second: the lower rank, both counted
    failures = {0: _failure(0, 2, 100), 1: _failure(1, -signal.SIGKILL, 100),
                2: _failure(2, -signal.SIGTERM, 100)}
    assert describe_failures(failures, 3) == (
        "error: 2 of 3 processes failed; rank 0 exited with status 2 first "
        "(its own lines above say why)")
