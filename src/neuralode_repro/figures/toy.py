"""Figures of the toy dynamics experiments (the tutorial notebook's plots)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import write_bytes
from .style import MODEL, OBS, TRUE, figure, pyplot, save

Field = Callable[[np.ndarray], np.ndarray]  # (N, 2) -> (N, 2)


def observations(t: np.ndarray, obs: np.ndarray, path: Path) -> None:
    """Noisy observations in the phase plane, coloured by time."""
    fig, ax = figure()
    sc = ax[0, 0].scatter(obs[:, 0], obs[:, 1], c=t, cmap="viridis", s=10)
    fig.colorbar(sc, ax=ax[0, 0], label="time t")
    ax[0, 0].set(xlabel="$z_1$", ylabel="$z_2$", title="Observations")
    save(fig, path)


def trajectories(t: np.ndarray, obs: np.ndarray, true: np.ndarray, model: np.ndarray,
                 t_extra: np.ndarray, true_extra: np.ndarray, model_extra: np.ndarray,
                 path: Path) -> None:
    """True vs learned trajectory: phase plane, and each component against time
    (the part after t_max is extrapolation, dashed)."""
    fig, ax = figure(ncols=2)
    a, b = ax[0, 0], ax[0, 1]
    a.scatter(obs[:, 0], obs[:, 1], s=6, color=OBS, alpha=0.5, label="observations")
    a.plot(true[:, 0], true[:, 1], color=TRUE, lw=1.2, label="true")
    a.plot(model[:, 0], model[:, 1], color=MODEL, lw=1.2, label="learned")
    a.plot(model_extra[:, 0], model_extra[:, 1], color=MODEL, lw=1.2, ls="--",
           label="learned, extrapolated")
    a.set(xlabel="$z_1$", ylabel="$z_2$", title="Phase plane")
    a.legend(loc="best")
    for d, style in ((0, "-"), (1, ":")):
        b.plot(np.r_[t, t_extra], np.r_[true[:, d], true_extra[:, d]], color=TRUE, ls=style,
               lw=1.0, label=f"true $z_{d + 1}$")
        b.plot(np.r_[t, t_extra], np.r_[model[:, d], model_extra[:, d]], color=MODEL, ls=style,
               lw=1.0, label=f"learned $z_{d + 1}$")
    b.axvline(t[-1], color="grey", lw=0.8)
    b.set(xlabel="time t", ylabel="state", title="Components (extrapolation right of line)")
    b.legend(loc="best", ncol=2)
    save(fig, path)


def vector_fields(true_field: Field, model_field: Field, lims: tuple[float, float, float, float],
                  path: Path, n: int = 17) -> None:
    """True and learned vector fields on the same grid."""
    xs, ys = np.meshgrid(np.linspace(lims[0], lims[1], n), np.linspace(lims[2], lims[3], n))
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)  # (n*n, 2)
    fig, ax = figure(ncols=2)
    for a, fn, title, color in ((ax[0, 0], true_field, "True field", TRUE),
                                (ax[0, 1], model_field, "Learned field", MODEL)):
        v = fn(grid)
        a.quiver(grid[:, 0], grid[:, 1], v[:, 0], v[:, 1], color=color, angles="xy")
        a.set(xlabel="$z_1$", ylabel="$z_2$", title=title)
    save(fig, path)


def training_gif(obs: np.ndarray, true: np.ndarray, frames: Sequence[tuple[int, np.ndarray]],
                 path: Path, duration_ms: int = 150) -> None:
    """Animated learned trajectory during training (one frame per snapshot)."""
    from PIL import Image  # here, not at import: the stage's start-up (style.py)

    images = []
    lo, hi = true.min(axis=0) - 0.3, true.max(axis=0) + 0.3
    for step, traj in frames:
        fig, ax = figure(width=4.0, height=3.6)
        a = ax[0, 0]
        a.scatter(obs[:, 0], obs[:, 1], s=5, color=OBS, alpha=0.4)
        a.plot(true[:, 0], true[:, 1], color=TRUE, lw=1.0)
        a.plot(traj[:, 0], traj[:, 1], color=MODEL, lw=1.4)
        a.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), xlabel="$z_1$", ylabel="$z_2$",
              title=f"step {step}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        pyplot().close(fig)
        images.append(Image.open(io.BytesIO(buf.getvalue())).convert("P", palette=Image.ADAPTIVE))
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:],
                   duration=duration_ms, loop=0)
    write_bytes(path, out.getvalue())


def _numpy_field(field: Any, dtype: Any) -> Field:
    import torch

    def fn(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return field(torch.zeros(()), torch.as_tensor(z, dtype=dtype)).double().numpy()
    return fn


def draw_all(data: dict[str, np.ndarray], model: Any, traj: np.ndarray,
             snapshots: dict[str, np.ndarray], out: Path) -> None:
    """Every figure of one toy fit, from its data, saved model, evaluated trajectory
    ``traj`` (N + M, 2) and training snapshots: observations, trajectories, vector
    fields and the training GIF."""
    import torch

    from ..data.toy import true_field

    n = len(data["t"])
    observations(data["t"], data["obs"], out / "observations.png")
    trajectories(data["t"], data["obs"], data["true"], traj[:n], data["t_extra"],
                 data["true_extra"], traj[n:], out / "trajectory.png")
    lo, hi = data["true"].min(axis=0) - 0.5, data["true"].max(axis=0) + 0.5
    vector_fields(_numpy_field(true_field(data), torch.float64),
                  _numpy_field(model.cpu(), torch.float32), (lo[0], hi[0], lo[1], hi[1]),
                  out / "vector_field.png")
    frames = list(zip(snapshots["steps"].tolist(), snapshots["trajectories"], strict=True))
    training_gif(data["obs"], data["true"], frames, out / "training.gif")
