"""Data-parallel training on existing engines: PyTorch DDP under ``torchrun``.

When params ask for N > 1 processes, the stage becomes the launcher (:func:`relaunch`):
torchrun (``torch.distributed.run``, run in this process, which costs no more memory
than the ``torchrun`` command: both import torch) starts N processes on this node, each
running the same command line with RANK/WORLD_SIZE set. Each calls :func:`init` once,
the training loop wraps the model in DDP (gradients are averaged across processes), and
only rank 0 writes metrics, checkpoints and MLflow runs. Backend: gloo on CPU, nccl on
CUDA. Past one node the user starts torchrun on every node; the stage then does not
relaunch, and :func:`init` joins the group torchrun describes (``env://``).

Nothing of a one-node run listens beyond loopback. ``torchrun --standalone`` would:
its rendezvous TCPStore and the store it shares with the workers bind every interface
(``*:<port>``, unauthenticated, for the whole run), whatever host they are given
(torch 2.14's TCPStore server binds the wildcard address unless handed a bound socket,
``master_listen_fd``, which torchrun never does).
So :func:`launch` runs the rendezvous on a file store in a private temporary folder,
turns the shared TCPStore off, has the workers meet on a file store too, and points
gloo's and nccl's own sockets at the loopback interface.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import nn

if TYPE_CHECKING:
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

# A file (in launch's private folder) the workers of a one-node run meet on.
STORE_ENV = "NEURALODE_DDP_STORE"


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """True on the process that writes outputs (rank 0, or the only process)."""
    return rank() == 0


def init(device: torch.device) -> None:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); else no-op."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    store = os.environ.get(STORE_ENV)
    if store:  # started by launch(): a file, where env:// would open a TCPStore on *:port
        dist.init_process_group(backend=backend, init_method=f"file://{store}",
                                rank=int(os.environ["RANK"]),
                                world_size=int(os.environ["WORLD_SIZE"]))
    else:  # torchrun started by the user (several nodes): its MASTER_ADDR/PORT
        dist.init_process_group(backend=backend)


def wrap(model: nn.Module) -> nn.Module:
    """DDP-wrap ``model`` when more than one process trains; else return it as is."""
    if world_size() <= 1:
        return model
    device = next(model.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def relaunch(nproc: int, device: torch.device) -> None:
    """With ``nproc`` > 1 and not yet under torchrun, run this command line as ``nproc``
    processes (:func:`launch`) and exit with their status; returns at once when
    ``nproc`` is 1 or torchrun started us."""
    if nproc == 1 or "WORLD_SIZE" in os.environ:
        return
    if device.type == "cuda" and nproc > torch.cuda.device_count():
        raise ValueError(f"nproc: {nproc} processes need {nproc} GPUs, found "
                         f"{torch.cuda.device_count()}; lower nproc or use common.device cpu")
    sys.stdout.flush()
    sys.stderr.flush()
    # in this process, not an exec: what the stage set up to end with DVC stays on
    sys.exit(launch(nproc, sys.argv))


def loopback_interface() -> str:
    """The loopback interface's name (``lo`` on Linux, ``lo0`` on macOS)."""
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return "lo"
    return next((n for n in names if n in ("lo", "lo0")), "lo")


def launch(nproc: int, command: Sequence[str]) -> int:
    """Run ``command`` (a script and its arguments) as ``nproc`` processes of one node
    under torchrun with no listener beyond loopback (module docstring); returns the exit
    status: 0, 1 when a process failed, 128 + n after signal n (e.g. 143: SIGTERM)."""
    # imported here: every stage imports this module, few launch
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    def stop(signum: int, _frame: object) -> None:
        # torchrun installs the same once its workers start; before that, end cleanly too
        raise SignalException(f"got {signal.Signals(signum).name}", signal.Signals(signum))

    handlers = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    lo = loopback_interface()
    env = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory(prefix="neuralode-ddp-") as folder:  # mode 0700
            os.environ.update({  # torchrun hands its own environment to the workers
                STORE_ENV: os.path.join(folder, "workers"),
                # the agent would otherwise serve the workers a TCPStore on *:<port>
                "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1",
                # gloo and nccl bind the address the host name resolves to unless told
                "GLOO_SOCKET_IFNAME": lo, "NCCL_SOCKET_IFNAME": lo})
            torchrun([f"--nproc-per-node={nproc}", "--nnodes=1", "--rdzv-backend=c10d",
                      "--rdzv-conf=store_type=file",
                      f"--rdzv-endpoint={os.path.join(folder, 'rendezvous')}",
                      f"--rdzv-id={uuid.uuid4()}", "--local-addr=127.0.0.1",
                      # its error files, else left behind in a temporary folder of its own
                      f"--log-dir={os.path.join(folder, 'logs')}", *command])
    except ChildFailedError as err:  # each process has printed its own error line
        print(describe_failures(err.failures, nproc), file=sys.stderr)
        return 1
    except SignalException as err:  # torchrun has stopped the workers
        return 128 + int(err.sigval)
    finally:
        os.environ.clear()
        os.environ.update(env)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return 0


def describe_failures(failures: Mapping[int, ProcessFailure], nproc: int) -> str:
    """One error line for a launch whose processes in ``failures`` (rank -> failure)
    failed. Once one fails, torchrun stops the rest with SIGTERM and lists them as failed
    too, stamped with the same second (its ``get_first_failure`` then picks the lowest
    rank), so those are not counted, and the first by time, then rank, of the others is
    named the cause; only if every process ended by SIGTERM (a user's kill) are they all."""
    own = {r: f for r, f in failures.items() if f.exitcode != -signal.SIGTERM} or failures
    rank = min(own, key=lambda r: (own[r].timestamp, r))
    code = own[rank].exitcode
    how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    return (f"error: {len(own)} of {nproc} processes failed; rank {rank} {how} first "
            "(its own lines above say why)")
