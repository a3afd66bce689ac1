"""Run by tests/test_listeners.py: a two-process stage in miniature. It asks for 2
processes as ``train_mnist.nproc: 2`` does (``distributed.relaunch``), joins the group,
reduces once, then says it is ready (``<folder>/rank<r>``) and waits for
``<folder>/stop`` so the test can list what listens meanwhile."""

import sys
import time
from pathlib import Path

import torch

from neuralode_repro import distributed

cpu = torch.device("cpu")
distributed.relaunch(2, cpu)  # replaces this process by the launcher, which runs us twice
distributed.init(cpu)
torch.set_num_threads(1)
ones = torch.ones(1)
torch.distributed.all_reduce(ones)  # every socket of the group is open now
folder = Path(sys.argv[1])
(folder / f"rank{distributed.rank()}").write_text(str(ones.item()))
deadline = time.monotonic() + 120
while not (folder / "stop").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
distributed.shutdown()
