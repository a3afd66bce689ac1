"""A deterministic training-cost axis: floating-point operations, so that "at equal
training cost" does not move with the machine's load as CPU seconds do (issue 33: the
CNF-vs-NF gap at equal seconds moved from 0.019 to 0.0095 nats between two runs of one
commit, every other result bit-identical).

FLOPs, counted on the ATen operations a step dispatches (forward and backward): a
matrix product 2mkn (mm, addmm, bmm, mv, dot: two per multiply-add, plus the added
term), an elementwise operation one per output element (those torch tags pointwise),
a reduction one per input element; views, copies and indexing cost nothing. A solve's
cost scales with its function evaluations (NFE), so one measured iteration gives the
cost per evaluation, and the training log's NFE of each step gives that step's cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from neuralode import collect_stats

aten = torch.ops.aten
_REDUCTIONS = {aten.sum, aten.mean, aten.prod, aten.amax, aten.amin,
               aten.linalg_vector_norm, aten.logsumexp}
_ELEMENTWISE = {aten.softplus_backward}  # pointwise, though torch does not tag it


def _numel(x: Any) -> int:
    return x.numel() if isinstance(x, Tensor) else 0


def _products(packet: Any, args: tuple) -> int | None:
    """FLOPs of a matrix product (None: not one); ``add*`` adds its term once."""
    if packet in (aten.mm, aten.bmm, aten.mv, aten.dot):
        a, b = args[0], args[1]
    elif packet in (aten.addmm, aten.baddbmm, aten.addmv):
        a, b = args[1], args[2]
    else:
        return None
    # (.., m, k) x (.., k, n): 2 * batch * m * k * n; mv and dot: n = 1
    flops = 2 * a.numel() * (b.shape[-1] if b.dim() >= 2 else 1)
    return flops + (math.prod(a.shape[:-1]) * (b.shape[-1] if b.dim() >= 2 else 1)
                    if packet in (aten.addmm, aten.baddbmm, aten.addmv) else 0)


class FlopCount(TorchDispatchMode):
    """Counts the FLOPs of the operations run inside it (the module's rule) in ``total``."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        packet = func.overloadpacket
        products = _products(packet, args)
        if products is not None:
            self.total += products
        elif packet in _REDUCTIONS:
            self.total += _numel(args[0])
        elif torch.Tag.pointwise in func.tags or packet in _ELEMENTWISE:
            self.total += sum(_numel(o) for o in (out if isinstance(out, tuple) else (out,)))
        return out


def iteration_flops(model: nn.Module, loss_fn: Callable[[nn.Module, Tensor], Any],
                    batch: Tensor) -> tuple[int, int]:
    """(FLOPs, forward NFE) of one training iteration of ``model`` on ``batch``: the
    loss and its backward pass, as training runs them (its own solver); the gradients
    are dropped after. The NFE is 0 for a model without an ODE solve."""
    with torch.enable_grad(), FlopCount() as counter, collect_stats() as stats:
        loss, _ = loss_fn(model, batch)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.total, int(stats.nfe_forward)


def cumulative_flops(log: Sequence[dict[str, Any]], flops: int, nfe: int) -> dict[int, float]:
    """Training FLOPs after each step of a run's log (rows with ``step`` and
    ``nfe_forward``), from one measured iteration (``flops`` at ``nfe`` evaluations):
    a solve's steps cost ``flops / nfe`` per evaluation of its log; a model without a
    solve (``nfe`` 0) costs ``flops`` every step."""
    if flops <= 0:
        raise ValueError(f"the measured iteration counted {flops} FLOPs: expected a model "
                         "with arithmetic in its training step")
    total, out = 0.0, {}
    for row in log:
        steps_nfe = float(row["nfe_forward"])
        if nfe and not steps_nfe:
            raise ValueError(f"the training log has no NFE at step {row['step']} while the "
                             f"model solves an ODE ({nfe} evaluations measured): pass the "
                             "log of this run (train_cnf writes it)")
        total += flops * steps_nfe / nfe if nfe else flops
        out[int(row["step"])] = total
    return out
