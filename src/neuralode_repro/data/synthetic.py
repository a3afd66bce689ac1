"""The ``generate_data`` section: the toy trajectories and the irregular spirals."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from neuralode import SolverError

from ..io import save_arrays
from .spirals import SpiralConfig, generate_spirals
from .toy import ToyDataConfig, generate_toy


@dataclasses.dataclass(frozen=True)
class GenerateDataConfig:
    """``generate_data``: ``toy`` (tutorial notebook) and ``spirals`` (paper sec. 5.1)."""

    toy: ToyDataConfig
    spirals: SpiralConfig = SpiralConfig()


def generate(cfg: GenerateDataConfig, seed: int, out: Path) -> dict[str, float]:
    """Write ``out/toy/<system>.npz`` (system i seeded ``seed + i``) and
    ``out/spirals.npz``; returns summary numbers (noise RMS, split sizes)."""
    stats: dict[str, float] = {}
    for i, (name, system) in enumerate(sorted(cfg.toy.systems.items())):
        try:
            arrays = generate_toy(system, cfg.toy, seed=seed + i)
        except SolverError as err:  # say which system: the solver only knows numbers
            raise SolverError(f"generate_data.toy.systems.{name}: {err}") from None
        save_arrays(out / "toy" / f"{name}.npz", arrays)
        stats[f"toy.{name}.noise_rms"] = float(
            np.sqrt(np.mean((arrays["obs"] - arrays["true"]) ** 2)))
    arrays = generate_spirals(cfg.spirals, seed=seed)
    save_arrays(out / "spirals.npz", arrays)
    stats["spirals.n_train"] = len(arrays["train_idx"])
    stats["spirals.n_test"] = len(arrays["test_idx"])
    return stats
