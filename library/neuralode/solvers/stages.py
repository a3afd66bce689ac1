"""The one explicit Runge-Kutta step (Hairer, Norsett, Wanner I, sec. II.1), and the
layouts its stages are kept in.

:func:`rk_step` is every RK step of the library: the fixed-grid and the adaptive
solvers run it eagerly, and the compiled path traces it into one graph
(:mod:`~neuralode.solvers.compiled`). What differs between those is only where the
stages live and how they are combined, a *layout*:

* :class:`ListStages`, large states (e.g. an ODE-Net's (B, C, H, W) block): the stage
  tensors as ``f`` returned them, each combination a chain of ``add(alpha=...)``: no
  copy of a stage into a buffer, and every read contiguous (memory traffic dominates);
* :class:`StackedStages`, small states under autograd: a stage matrix (n, s) stacked
  afresh for each combination, one ``addmv`` against a tableau row (per-op overhead
  dominates; in-place writes would break backprop);
* :class:`BufferStages`, small states without autograd: the same, into one matrix
  reused across steps, its columns written in place;
* the compiled path's own layout, sums of ``(h w_j) k_j`` and the error norm as
  tensor ops, which ``torch.compile`` fuses.

The weights b of the new state are row ``s`` of the combinations (rows 1..s-1 are
those of the matrix a): Butcher's convention of b as one more stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import FlatFunc, Segments, rms_norm
from .tableau import ButcherTableau

# The stages of one step: a matrix (n, s) for small states, a list of s (n,) tensors
# for large ones.
Stages = Tensor | list[Tensor]


def combine(y: Tensor, K: Stages, w: Tensor, w_list: Sequence[float], h: float) -> Tensor:
    """y + h * sum_j w_j K_j over the stages K (either layout; as many weights as
    stages); ``w`` and ``w_list`` are the same weights as a tensor (for ``addmv``) and
    as floats (for the list)."""
    if isinstance(K, Tensor):
        return torch.addmv(y, K, w, alpha=h)  # (n,)
    out = y
    for wj, kj in zip(w_list, K, strict=True):
        if wj != 0.0:  # a fresh tensor first (y is the caller's), then in place
            out = torch.add(out, kj, alpha=h * wj) if out is y else out.add_(kj, alpha=h * wj)
    return out.clone() if out is y else out


def error_estimate(K: Stages, w: Tensor, w_list: Sequence[float]) -> Tensor:
    """sum_j w_j K_j (the embedded pair's error weights), either layout."""
    if isinstance(K, Tensor):
        return torch.mv(K, w)  # (n,)
    out = None
    for wj, kj in zip(w_list, K, strict=True):
        if wj != 0.0:
            out = torch.mul(kj, wj) if out is None else out.add_(kj, alpha=wj)
    return torch.zeros_like(K[0]) if out is None else out


def last_stage(K: Stages) -> Tensor:
    """The last stage (FSAL's next first stage), as a tensor of its own."""
    return K[-1] if isinstance(K, list) else K[:, -1].clone()


class Coeffs:
    """Tableau rows as tensors of one dtype/device, built once per solve."""

    def __init__(self, tab: ButcherTableau, like: Tensor):
        def vec(xs: Sequence[float]) -> Tensor:
            return torch.tensor(xs, dtype=like.dtype, device=like.device)

        self.tab = tab
        self.a = [vec(row) if row else None for row in tab.a]
        self.b = vec(tab.b)
        self.b_err = vec(tab.b_err) if tab.b_err is not None else None

    def row(self, i: int) -> tuple[Tensor, Sequence[float]]:
        """Row ``i`` of the combinations, as a tensor and as floats (``s``: b)."""
        if i == self.tab.stages:
            return self.b, self.tab.b
        return self.a[i], self.tab.a[i]  # type: ignore[return-value]


class ListStages:
    """The list layout (large states); the eager error norm of every eager layout."""

    def __init__(self, co: Coeffs):
        self.co, self.tab = co, co.tab

    def start(self, k0: Tensor) -> None:
        self.ks = [k0]

    def combine(self, y: Tensor, i: int, h: float) -> Tensor:
        return combine(y, self.ks, *self.co.row(i), h)

    def push(self, i: int, k: Tensor) -> None:
        self.ks.append(k)

    def finish(self) -> Stages:
        return self.ks

    def error(self, y: Tensor, y1: Tensor, K: Stages, h: float, rtol: float, atol: float,
              segments: Segments | None) -> float:
        """|h| ||sum_j b_err_j K_j / (atol + rtol max(|y|, |y1|))||, outside the graph."""
        with torch.no_grad():  # step control is not part of the computation graph
            scale = torch.maximum(y.abs(), y1.abs()).mul_(rtol).add_(atol)
            est = error_estimate(K, self.co.b_err, self.tab.b_err)  # type: ignore[arg-type]
            return abs(h) * rms_norm(est.div_(scale), segments)


class StackedStages(ListStages):
    """The stage matrix (n, s) stacked afresh (small states under autograd)."""

    def start(self, k0: Tensor) -> None:
        self.ks, self.K = [k0], None

    def combine(self, y: Tensor, i: int, h: float) -> Tensor:
        mat = self.finish() if i == self.tab.stages else torch.stack(self.ks, dim=1)
        return combine(y, mat, *self.co.row(i), h)

    def finish(self) -> Tensor:
        if self.K is None:  # once, after the last stage
            self.K = torch.stack(self.ks, dim=1)  # (n, s)
        return self.K


class BufferStages(ListStages):
    """The stage matrix K (n, s) reused across steps, with its views made once (small
    states without autograd)."""

    def __init__(self, co: Coeffs, like: Tensor):
        super().__init__(co)
        self.K = like.new_empty(like.numel(), co.tab.stages)
        self.cols = [self.K[:, i] for i in range(co.tab.stages)]
        self.prefix = [self.K[:, :i] for i in range(co.tab.stages)]

    def start(self, k0: Tensor) -> None:
        self.cols[0].copy_(k0)

    def combine(self, y: Tensor, i: int, h: float) -> Tensor:
        mat = self.K if i == self.tab.stages else self.prefix[i]
        return combine(y, mat, *self.co.row(i), h)

    def push(self, i: int, k: Tensor) -> None:
        self.cols[i].copy_(k)

    def finish(self) -> Tensor:
        return self.K


def rk_step(f: FlatFunc, lay: ListStages, t: float | Tensor, y: Tensor, h: float | Tensor,
            k0: Tensor, rtol: float | None = None, atol: float = 0.0,
            segments: Segments | None = None) -> tuple[Tensor, Stages, float | Tensor | None]:
    """One step of ``lay.tab`` from (t, y) with first stage ``k0``: stage i is
    f(t + c_i h, y + h sum_{j<i} a_ij k_j), the new state y + h sum_j b_j k_j (with
    FSAL, the last stage's argument). Returns (y1, K, err): K the stages in the
    layout's form, err the scaled error norm (``None`` without ``rtol`` or b_err)."""
    tab = lay.tab
    lay.start(k0)
    y1 = y
    for i in range(1, tab.stages):
        y1 = lay.combine(y, i, h)  # (n,)
        lay.push(i, f(t + tab.c[i] * h, y1))
    if not tab.fsal:
        y1 = lay.combine(y, tab.stages, h)
    K = lay.finish()
    if tab.b_err is None or rtol is None:
        return y1, K, None
    return y1, K, lay.error(y, y1, K, h, rtol, atol, segments)
