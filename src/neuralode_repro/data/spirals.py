"""Synthetic 2-D spirals of the latent-ODE experiment (paper sec. 5.1, Table 2, Figs. 8-9).

Two fixed curves on one equally spaced time grid ``t_k`` on [t_start, t_stop], after
``generate_spiral2d`` of torchdiffeq's ``examples/latent_ode.py`` (a later re-creation by
a contributor; the authors' own code was never released, so the paper's data are not
known exactly):

* counter-clockwise, centred right: theta = t, r = a + b theta,
  x = (r cos theta + centre, r sin theta) -- an Archimedean spiral;
* clockwise, centred left: theta = t_stop + cw_offset - t, r = a + b cw_scale / theta,
  x = (r cos theta - centre, r sin theta) -- a hyperbolic spiral, not an Archimedean
  one: the example's radius is inverse in theta (``cw_scale`` and the ``cw_offset``
  that avoids 1/0 are its constants 50 and 1), and we keep it. Its large radii at
  small theta let a few clockwise test spirals dominate the squared error (in one
  measured model the worst 10% of test spirals carried 81% of it).

Each spiral is one of the two curves (exactly half of each), seen through a window
of ``n_window + n_future`` consecutive grid points from a random start ("each
starting at a different point, sampled at 100 equally-spaced timesteps"). Times are
relative to the window start, so every spiral shares the window grid ``t``. The
first ``n_window`` points are the observation window: for every n in ``n_obs`` we draw
n of them without replacement, sorted ("irregular timestamps", sec. 5.1). The
``n_future`` points after the window are the prediction targets of Table 2's RMSE.
Gaussian noise (sigma ``noise_std``; the paper does not state it) is added to every
window point; predictions are scored against the noise-free values.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from ..config import num


@dataclasses.dataclass(frozen=True)
class SpiralConfig:
    """``generate_data.spirals``: the spiral data set. Defaults: the curves, time span and
    noise of torchdiffeq's example's ``__main__`` except ``noise_std`` (0.1, its function
    default; ``__main__`` passes 0.3) and ``n_total`` (1000 grid points; it uses 500)."""

    n_spirals: int = num(1000, ge=2)
    n_total: int = num(1000, ge=3)  # points of the full grid on [t_start, t_stop]
    t_start: float = num(0.0, ge=0)
    t_stop: float = num(6 * math.pi, gt=0)
    a: float = 0.0
    b: float = num(0.3, gt=0)
    cw_scale: float = num(50.0, gt=0)
    cw_offset: float = num(1.0, gt=0)
    centre: float = num(5.0, ge=0)
    noise_std: float = num(0.1, ge=0)
    min_start: int = num(100, ge=0)  # first grid index a window may start at
    n_window: int = num(100, ge=2)
    n_future: int = num(100, ge=1)
    n_obs: tuple[int, ...] = (30, 50, 100)
    test_fraction: float = num(0.2, gt=0, lt=1)

    def validate(self) -> None:
        if self.t_stop <= self.t_start:
            raise ValueError(f"t_stop={self.t_stop} must exceed t_start={self.t_start}")
        if not self.n_obs or len(set(self.n_obs)) != len(self.n_obs):
            raise ValueError(f"n_obs must be a non-empty list of distinct counts, got "
                             f"{list(self.n_obs)}")
        if min(self.n_obs) < 1 or max(self.n_obs) > self.n_window:
            raise ValueError(f"n_obs must lie in [1, n_window={self.n_window}], got "
                             f"{list(self.n_obs)}; raise n_window or lower n_obs")
        span = self.min_start + self.n_window + self.n_future
        if span > self.n_total:
            raise ValueError(f"min_start + n_window + n_future = {span} exceeds n_total="
                             f"{self.n_total}; raise n_total or shorten the window")
        n_test = round(self.test_fraction * (self.n_spirals // 2))
        if n_test < 1 or n_test >= self.n_spirals // 2:
            raise ValueError(f"test_fraction={self.test_fraction} leaves an empty train or "
                             f"test split of n_spirals={self.n_spirals}")


def spiral_curves(cfg: SpiralConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The full grid (n_total,) and the clockwise and counter-clockwise curves (n_total, 2)."""
    grid = np.linspace(cfg.t_start, cfg.t_stop, cfg.n_total)
    th_cw = cfg.t_stop + cfg.cw_offset - grid
    r_cw = cfg.a + cfg.b * cfg.cw_scale / th_cw
    cw = np.stack([r_cw * np.cos(th_cw) - cfg.centre, r_cw * np.sin(th_cw)], axis=1)
    r_cc = cfg.a + cfg.b * grid
    ccw = np.stack([r_cc * np.cos(grid) + cfg.centre, r_cc * np.sin(grid)], axis=1)
    return grid, cw, ccw


def generate_spirals(cfg: SpiralConfig, seed: int) -> dict[str, np.ndarray]:
    """Generate the data set; same ``cfg`` and ``seed`` give identical arrays.

    Returns (N spirals, W = n_window, F = n_future):
        ``t`` (W+F,) window times from 0; ``true`` (N, W+F, 2); ``noisy`` (N, W+F, 2);
        ``clockwise`` (N,) bool; ``start_idx`` (N,) window start on the full grid;
        ``obs_idx_{n}`` (N, n) sorted distinct indices into the first W points, per n;
        ``train_idx``, ``test_idx`` (sorted, disjoint; stratified by direction);
        ``grid`` (n_total,), ``curve_cw``, ``curve_ccw`` (n_total, 2) for plots;
        ``n_window`` and ``noise_std`` as 0-d arrays, so a saved file describes itself.
    """
    rng = np.random.default_rng(seed)
    grid, cw, ccw = spiral_curves(cfg)
    n, length = cfg.n_spirals, cfg.n_window + cfg.n_future
    clockwise = rng.permutation(np.arange(n) < n // 2)  # exactly n // 2 clockwise
    start = rng.integers(cfg.min_start, cfg.n_total - length, endpoint=True, size=n)
    window = start[:, None] + np.arange(length)  # (N, W+F) grid indices
    true = np.where(clockwise[:, None, None], cw[window], ccw[window])  # (N, W+F, 2)
    noisy = true + cfg.noise_std * rng.standard_normal(true.shape)
    out: dict[str, np.ndarray] = {
        "t": grid[:length] - grid[0], "true": true, "noisy": noisy, "clockwise": clockwise,
        "start_idx": start, "grid": grid, "curve_cw": cw, "curve_ccw": ccw,
        "n_window": np.array(cfg.n_window), "noise_std": np.array(cfg.noise_std)}
    for k in cfg.n_obs:
        idx = np.stack([np.sort(rng.choice(cfg.n_window, size=k, replace=False))
                        for _ in range(n)])
        out[f"obs_idx_{k}"] = idx.astype(np.int64)  # (N, k)
    test: list[np.ndarray] = []
    for members in (np.flatnonzero(clockwise), np.flatnonzero(~clockwise)):
        n_test = round(cfg.test_fraction * (n // 2))
        test.append(rng.choice(members, size=n_test, replace=False))
    test_idx = np.sort(np.concatenate(test))
    out["test_idx"] = test_idx
    out["train_idx"] = np.setdiff1d(np.arange(n), test_idx)
    return out


@dataclasses.dataclass(frozen=True)
class SpiralBatch:
    """B spirals with n irregular observations each and F shared future times.

    ``x_obs`` (B, n, D) noisy observations at ``t_obs`` (B, n); ``x_obs_true`` the
    noise-free values there; ``t_future`` (F,) the shared prediction times after the
    window, ``x_future`` (B, F, D) their noise-free values; ``clockwise`` (B,) bool.
    """

    x_obs: Tensor
    t_obs: Tensor
    x_obs_true: Tensor
    t_future: Tensor
    x_future: Tensor
    clockwise: Tensor

    def to(self, device: torch.device | str) -> SpiralBatch:
        return SpiralBatch(**{f.name: getattr(self, f.name).to(device)
                              for f in dataclasses.fields(self)})

    def __len__(self) -> int:
        return self.x_obs.shape[0]


def make_batch(data: Mapping[str, np.ndarray], n: int,
               index: Sequence[int] | np.ndarray | None = None, *,
               dtype: torch.dtype = torch.float32,
               device: torch.device | str = "cpu") -> SpiralBatch:
    """Slice spirals ``index`` (default: all) with n observations into torch tensors."""
    key = f"obs_idx_{n}"
    if key not in data:
        have = sorted(int(k.removeprefix("obs_idx_")) for k in data if k.startswith("obs_idx_"))
        raise KeyError(f"no observation indices for n={n}; generated n values: {have}")
    rows = np.arange(len(data["true"])) if index is None else np.asarray(index)
    w = int(data["n_window"])
    obs = data[key][rows]  # (B, n)
    pick = rows[:, None], obs

    def tensor(a: np.ndarray) -> Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)

    return SpiralBatch(
        x_obs=tensor(data["noisy"][pick]), t_obs=tensor(data["t"][obs]),
        x_obs_true=tensor(data["true"][pick]), t_future=tensor(data["t"][w:]),
        x_future=tensor(data["true"][rows, w:]),
        clockwise=torch.as_tensor(data["clockwise"][rows], device=device))
