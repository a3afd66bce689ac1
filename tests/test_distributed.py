"""DDP via torchrun: 2 gloo processes average gradients like one process on the
concatenated batch."""

import subprocess
import sys
from pathlib import Path

import torch

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
