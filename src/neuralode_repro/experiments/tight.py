"""A trained ODE model's results re-measured at a tight solver tolerance, beside its
training one (issue 33, item 7): a result that holds only at the training tolerance is
the solver's, not the model's. The CNF's evaluation already re-solves at 1e-6
(``evaluate_cnf``); this swaps the solver of the latent ODE and the ODE-Net."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from torch import nn

from ..config import SolverConfig
from ..models.latent import LatentODE
from ..models.mnist import ODEBlock


@contextlib.contextmanager
def solved_by(model: nn.Module, solver: SolverConfig) -> Iterator[int]:
    """Every ODE solve of ``model`` by ``solver`` meanwhile, each restored after: the
    solver of each ODE block (ODE-Net, RK-Net) and latent ODE inside it. Yields how many
    it swapped (0: the model solves no ODE, e.g. an RNN or a ResNet)."""
    saved: list[tuple[nn.Module, str, object]] = []
    try:
        for m in model.modules():
            if isinstance(m, ODEBlock):
                saved.append((m, "solver", m.solver))
                m.solver = solver
            elif isinstance(m, LatentODE):
                saved.append((m, "cfg", m.cfg))
                m.cfg = dataclasses.replace(m.cfg, solver=solver)
        yield len(saved)
    finally:
        for m, attr, old in reversed(saved):
            setattr(m, attr, old)
