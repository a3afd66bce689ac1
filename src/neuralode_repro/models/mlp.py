"""The multilayer perceptrons of the models: one builder, :func:`mlp`, and the
time-invariant vector field made of it, :class:`MLPField` (the tutorial notebook's
NNODEF for the toy fits; the latent ODE's f of paper sec. 5.1 is the same field)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


def mlp(sizes: Sequence[int], act: type[nn.Module]) -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` with ``act`` between
    them (none after the last); a Sequential, so its state_dict keys are ``<i>.weight``
    and ``<i>.bias`` with the activations counted in ``i``."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers += [nn.Linear(a, b)] + ([act()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


class MLPField(nn.Module):
    """Time-invariant MLP field D -> H -> ... -> H -> D with ELU: dz/dt = net(z)."""

    def __init__(self, dim: int, hidden: Sequence[int]):
        super().__init__()
        self.net = mlp([dim, *hidden, dim], nn.ELU)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        return self.net(z)  # (B, D)
