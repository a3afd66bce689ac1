"""``figures``: settings of the figure stages only, so that changing one redraws
figures and reruns no training or evaluation."""

from __future__ import annotations

import dataclasses

from ..config import num


def _check_fractions(fractions: tuple[float, ...]) -> None:
    if not fractions or list(fractions) != sorted(set(fractions)) \
            or fractions[0] < 0 or fractions[-1] > 1:
        raise ValueError(f"fractions must be strictly increasing values in [0, 1], got "
                         f"{list(fractions)}")


@dataclasses.dataclass(frozen=True)
class LatentFigures:
    """``figures.latent`` (paper Figs. 8-9): ``points`` times per decoded curve,
    ``projection_spirals`` test spirals in the latent projection, ``interpolation_steps``
    decoded points on the line from a clockwise to a counter-clockwise z_t0."""

    points: int = num(200, ge=10)
    projection_spirals: int = num(100, ge=2)
    interpolation_steps: int = num(10, ge=2)


@dataclasses.dataclass(frozen=True)
class CNFFigures:
    """``figures.cnf.<task>`` (paper Figs. 4-5): ``samples`` points and a ``grid``^2
    density panel at each of ``fractions`` of the flow (of t1 for the CNF, of the K
    layers for the NF) on [-lim, lim]^2 (capacity: the box of evaluate_cnf's log Z)."""

    fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    samples: int = num(4096, ge=1)
    lim: float = num(2.0, gt=0)
    grid: int = num(80, ge=4)

    def validate(self) -> None:
        _check_fractions(self.fractions)


@dataclasses.dataclass(frozen=True)
class CNFFiguresConfig:
    ml: CNFFigures = CNFFigures()
    capacity: CNFFigures = CNFFigures(lim=4.0)


@dataclasses.dataclass(frozen=True)
class FiguresConfig:
    """``figures``: one entry per experiment whose figures have settings."""

    latent: LatentFigures = LatentFigures()
    cnf: CNFFiguresConfig = CNFFiguresConfig()
