"""The numerical platform a stage ran on: what decides the last bits of its results.

Same code, seed and params give bit-identical metrics on the same CPU, BLAS code path
and thread count (measured: five reruns of the latent ODE, identical 4000-step
curves). Another CPU or thread count changes the rounding of BLAS calls (MKL picks
its kernels by CPU and thread count), and training amplifies that to seed-noise
level: the latent ODE's n = 100 predictive RMSE was 0.472 on the machine of the first
published run and 0.513 on another 2-core EPYC, same commit and seed. So every
metrics file records this block, and the report prints it.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def apply_threads(threads: int | None) -> None:
    """Pin torch's intra-op threads (None: torch's default, one per core)."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)


def describe(device: torch.device | str = "cpu") -> dict[str, Any]:
    """torch version, CPU (model name, family/model/stepping, a hash of its flags),
    torch's CPU kernel level, BLAS, threads, numerics env vars, the device, and a
    fingerprint: two runs whose fingerprints differ cannot be expected to agree bit
    for bit."""
    import torch  # here, not at import: the report reads cpu_info() without torch

    device = torch.device(device)
    out: dict[str, Any] = {
        "torch": torch.__version__, "cpu": _cpu(),
        "capability": torch.backends.cpu.get_cpu_capability(), "blas": _blas(),
        "threads": torch.get_num_threads(),
        "env": " ".join(f"{k}={v}" for k, v in sorted(os.environ.items())
                        if k.startswith(("OMP_", "MKL_", "ATEN_", "OPENBLAS_"))),
        "fingerprint": _fingerprint(torch.get_num_threads()),
    }
    out["device"] = (f"cuda: {torch.cuda.get_device_name(device)}" if device.type == "cuda"
                     else device.type)
    return out


@cache
def cpu_info() -> dict[str, str]:
    """The first CPU's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return info


@cache
def _cpu() -> str:
    info = cpu_info()
    if not info:
        return platform.processor() or platform.machine()
    flags = hashlib.md5(info.get("flags", "").encode(), usedforsecurity=False).hexdigest()
    return (f"{info.get('model name', platform.machine())} (family {info.get('cpu family', '?')}"
            f", model {info.get('model', '?')}, stepping {info.get('stepping', '?')}, "
            f"flags {flags[:8]})")


@cache
def _blas() -> str:
    import torch

    config = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version ([\w.]+)", config)
    if mkl:
        return f"MKL {mkl.group(1)}"
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    return blas.group(1) if blas else "unknown"


@cache
def _fingerprint(threads: int) -> str:
    """Hash of a few fixed float32 results (matrix-vector and matrix products,
    normal samples, a norm, exp) at this thread count: the kernels training uses."""
    del threads  # part of the cache key: the results depend on it
    import torch

    g = torch.Generator().manual_seed(0)
    a, w = torch.randn(400, 7, generator=g), torch.randn(7, generator=g)
    b = torch.randn(1000, 20, generator=g)
    x = torch.randn(4096, generator=g)
    parts = (torch.addmv(x[:400], a, w, alpha=0.37), b.T @ b, torch.exp(x),
             torch.linalg.vector_norm(x[:400]), torch.randn(400, generator=g))
    h = hashlib.md5(usedforsecurity=False)
    for p in parts:
        h.update(p.contiguous().numpy().tobytes())
    return h.hexdigest()[:12]
