"""Data-parallel training on existing engines: PyTorch DDP under ``torchrun``.

``torchrun --nproc_per_node=N stages/train_mnist.py ...`` sets RANK/WORLD_SIZE (the
stage does this itself when params ask for N > 1 processes: :func:`relaunch`); the
stage calls :func:`init` once, the training loop wraps the model in DDP (gradients
are averaged across processes), and only rank 0 writes metrics, checkpoints and
MLflow runs. Backend: gloo on CPU, nccl on CUDA.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist
from torch import nn


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
    """With ``nproc`` > 1 and not yet under torchrun, replace this process by
    ``python -m torch.distributed.run --standalone --nproc_per_node=nproc`` running the
    same command line; returns at once when ``nproc`` is 1 or torchrun started us."""
    if nproc == 1 or "WORLD_SIZE" in os.environ:
        return
    if device.type == "cuda" and nproc > torch.cuda.device_count():
        raise ValueError(f"nproc: {nproc} processes need {nproc} GPUs, found "
                         f"{torch.cuda.device_count()}; lower nproc or use common.device cpu")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "torch.distributed.run", "--standalone",
                              f"--nproc_per_node={nproc}", *sys.argv])
