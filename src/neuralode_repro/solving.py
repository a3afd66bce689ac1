"""The one bridge from a params ``solver`` section to the library: every model solves
its ODE through :func:`solve`, so ``adjoint: true`` means the same thing everywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from torch import Tensor

from neuralode import odeint, odeint_adjoint

from .config import SolverConfig
from .vode import register


def solve(func: Callable[[Tensor, Tensor], Tensor], y0: Tensor, t: Tensor, cfg: SolverConfig,
          *, adjoint_params: Iterable[Tensor] | None = None) -> Tensor:
    """y at every time of ``t`` (T, *y0.shape): ``odeint_adjoint`` when ``cfg.adjoint``
    (the paper's ODE-Net, sec. 2), else ``odeint`` with backprop through the solver
    (RK-Net). ``adjoint_params`` as in ``odeint_adjoint``; ignored for direct backprop,
    where autograd finds every parameter itself."""
    register()  # the pipeline's own solvers (cached): a config built in code skipped the
    # config check that registers them
    kwargs = cfg.kwargs()
    if cfg.adjoint:
        return odeint_adjoint(func, y0, t, adjoint_params=adjoint_params, **kwargs)
    return odeint(func, y0, t, **kwargs)
