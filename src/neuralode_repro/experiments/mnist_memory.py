"""Peak memory of one MNIST training step against solver depth (paper sec. 2 and
Table 1's "Memory" column): the adjoint (ODE-Net) needs O(1) memory in the number of
function evaluations, backpropagating through the solver (RK-Net) needs O(L~).

Both models use the same architecture (``train_mnist.models.<architecture>``) with a
fixed-grid solver of ``n`` steps on [0, t1], so the forward NFE does not depend on
the data (rk4: 4n; counted, not assumed). Memory is measured by
:func:`neuralode_repro.memory.memory_sweep` (CUDA: allocator peak; CPU: the profiler's
allocation events, see that module). The batch is random noise: a fixed-grid step's
memory depends on the tensor shapes only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuralode import TABLEAUX, collect_stats

from ..config import SEED_MAX, ConfigError, SolverConfig, num
from ..io import write_csv, write_json
from ..memory import memory_sweep
from ..models.mnist import MnistModelConfig, build_model, loss_fn
from ..runtime import describe


@dataclasses.dataclass(frozen=True)
class MnistMemoryConfig:
    """``mnist_memory``: ``steps`` fixed solver steps of ``method`` at batch
    ``batch_size``, for the architecture of ``train_mnist.models.<architecture>``."""

    architecture: str = "odenet"
    batch_size: int = num(128, gt=0)
    steps: tuple[int, ...] = (4, 8, 16, 32)
    method: str = "rk4"
    seed: int = num(0, ge=0, le=SEED_MAX)

    def validate(self) -> None:
        tab = TABLEAUX.get(self.method)
        if tab is None or tab.adaptive:
            fixed = [n for n, t in TABLEAUX.items() if not t.adaptive]
            raise ValueError(f"method: {self.method!r} is not a fixed-grid solver; use one "
                             f"of {', '.join(fixed)} (the NFE must not depend on the data)")
        if len(self.steps) < 2 or any(s < 1 for s in self.steps) or \
                list(self.steps) != sorted(set(self.steps)):
            raise ValueError(f"steps: expected at least two increasing integers >= 1, got "
                             f"{list(self.steps)}")


def run(cfg: MnistMemoryConfig, arch: MnistModelConfig, *, json_path: Path, csv_path: Path,
        device: torch.device | None = None) -> dict[str, Any]:
    """Measure the sweep; write its metrics JSON and CSV (figures_mnist draws them)."""
    device = device or torch.device("cpu")
    if arch.kind not in ("odenet", "rknet"):
        raise ConfigError(f"mnist_memory.architecture: train_mnist.models entry is a "
                          f"{arch.kind!r}; it must be an odenet or rknet (one with a solver)")
    g = torch.Generator().manual_seed(cfg.seed)
    # A fixed-grid step's memory depends on the shapes, not on the pixel values.
    batch = (torch.randn(cfg.batch_size, 1, 28, 28, generator=g).to(device),  # (B, 1, 28, 28)
             torch.randint(0, 10, (cfg.batch_size,), generator=g).to(device))  # (B,)

    def make(kind: str):
        def build(n: int) -> nn.Module:
            torch.manual_seed(cfg.seed)
            solver = SolverConfig(method=cfg.method, step_size=arch.t1 / n)
            return build_model(dataclasses.replace(arch, kind=kind, solver=solver)).to(device)
        return build

    curves: dict[str, list[float]] = {"odenet": [], "rknet": []}
    nfe: dict[str, list[int]] = {"odenet": [], "rknet": []}
    nfe_b: list[int] = []  # the adjoint's backward solve (ODE-Net only)
    for kind in curves:
        for n in cfg.steps:
            with collect_stats() as stats:  # the NFE actually spent, not a formula
                curves[kind].append(memory_sweep(make(kind), [n], batch, loss_fn)[n])
            nfe[kind].append(stats.nfe_forward)
            if kind == "odenet":
                nfe_b.append(stats.nfe_backward)
    if nfe["odenet"] != nfe["rknet"]:
        raise RuntimeError(f"forward NFE differs between the models: {nfe}")
    ode, rk, nfe_f = curves["odenet"], curves["rknet"], nfe["odenet"]
    spread = max(ode) / min(ode) - 1
    metrics: dict[str, Any] = {
        # results only (metrics.py): the setup (batch, method, steps) is in params.yaml
        "nfe_forward": nfe_f,
        "odenet_nfe_backward": nfe_b,
        "odenet_mb": ode, "rknet_mb": rk,  # aligned with nfe_forward
        "odenet_spread": spread,  # max/min - 1; the report judges "flat" (eps_memory_flat)
        "rknet_growth": rk[-1] / rk[0],
        "rknet_mb_per_nfe": (rk[-1] - rk[0]) / (nfe_f[-1] - nfe_f[0]),
        "rknet_over_odenet_at_max": rk[-1] / ode[-1], "runtime": describe(device),
    }
    write_csv(csv_path,
              [{"steps": s, "nfe_forward": n, "odenet_mb": a, "rknet_mb": b}
               for s, n, a, b in zip(cfg.steps, nfe_f, ode, rk, strict=True)])
    write_json(json_path, metrics)
    return metrics
