"""Figures of the latent-ODE experiment (paper sec. 5.1): reconstructions and
extrapolations of test spirals (Fig. 8a-b), latent trajectories coloured by direction
(Fig. 8c), decoded trajectories along a line in z_t0 (in the spirit of Fig. 9) and
Table 2's predictive RMSE against training iterations (the budget axis).

Spiral coordinates and times are dimensionless (the data's own units, "a.u.").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from ..data.spirals import make_batch
from ..models.latent import LatentODE, SequenceModel
from .config import LatentFigures
from .style import MODEL, OBS, TRUE, figure, save

CW, CCW = "#ff7f0e", "#1f77b4"  # clockwise, counter-clockwise
VARIANTS = {"latent_ode": ("latent ODE", MODEL), "rnn": ("RNN", OBS)}  # label, colour
X1, X2, T = "$x_1$ (a.u.)", "$x_2$ (a.u.)", "time t (a.u.)"


@dataclasses.dataclass(frozen=True)
class SpiralPanel:
    """One test spiral: noisy observations ``x_obs`` (n, 2) at ``t_obs`` (n,), the
    noise-free window + future ``true`` (W+F, 2), the model's reconstruction ``fit``
    (K, 2) over the observation window and its extrapolation ``future`` (F', 2)."""

    t_obs: np.ndarray
    x_obs: np.ndarray
    true: np.ndarray
    fit: np.ndarray
    future: np.ndarray
    clockwise: bool


def reconstructions(panels: Sequence[SpiralPanel], t_max: float, title: str,
                    path: Path) -> None:
    """A 3x3 grid of test spirals (paper Fig. 8a-b): observations coloured by time,
    the true trajectory, the reconstruction (solid) and the extrapolation (dashed)."""
    from matplotlib.lines import Line2D  # here, not at import: the stage's start-up

    ncols = 3
    nrows = max(1, -(-len(panels) // ncols))
    fig, ax = figure(ncols=ncols, nrows=nrows, width=3.3, height=3.1)
    fig.set_layout_engine("constrained")  # before the colorbar: it needs room kept for it
    sc = None
    for k, a in enumerate(ax.flat):
        if k >= len(panels):
            a.set_axis_off()
            continue
        p = panels[k]
        a.plot(p.true[:, 0], p.true[:, 1], color=TRUE, lw=1.0, alpha=0.6)
        a.plot(p.fit[:, 0], p.fit[:, 1], color=OBS, lw=1.4)
        a.plot(p.future[:, 0], p.future[:, 1], color=MODEL, lw=1.4, ls="--")
        sc = a.scatter(p.x_obs[:, 0], p.x_obs[:, 1], c=p.t_obs, cmap="viridis", vmin=0,
                       vmax=t_max, s=9, zorder=3)
        a.set(title="clockwise" if p.clockwise else "counter-clockwise")
        if k % ncols == 0:
            a.set_ylabel(X2)
        if k // ncols == nrows - 1:
            a.set_xlabel(X1)
    handles = [Line2D([], [], color=TRUE, alpha=0.6, label="true trajectory"),
               Line2D([], [], color=OBS, lw=1.4, label="reconstruction"),
               Line2D([], [], color=MODEL, lw=1.4, ls="--", label="extrapolation")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3)
    if sc is not None:
        fig.colorbar(sc, ax=ax.ravel().tolist(), label=f"observation {T}", shrink=0.6)
    fig.suptitle(title)
    save(fig, path)


def _pca2(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-2 principal directions (2, L) of (N, L) points and their variance ratios."""
    centred = points - points.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:2], (s[:2] ** 2) / max(float((s**2).sum()), 1e-30)


def latent_projection(z: np.ndarray, clockwise: np.ndarray, path: Path) -> None:
    """Latent trajectories z(t) (B, T, L) in 2-D, coloured by the spiral's direction
    (paper Fig. 8c). Left: the first two latent dimensions, as in the paper; right:
    the first two principal components of all points (the axes of z are arbitrary,
    so PCA shows the most spread-out plane). Dots mark z_t0."""
    from matplotlib.lines import Line2D  # here, not at import: the stage's start-up

    b, t, dim = z.shape
    flat = z.reshape(-1, dim)  # (B*T, L)
    if dim >= 2:
        basis, ratio = _pca2(flat)
        pca = (flat - flat.mean(axis=0)) @ basis.T  # (B*T, 2)
        pca_label = (f"PC 1 ({100 * ratio[0]:.0f}% var.)", f"PC 2 ({100 * ratio[1]:.0f}% var.)")
        views = [(z[..., :2], ("$z_1$ (a.u.)", "$z_2$ (a.u.)"), "First two latent dims"),
                 (pca.reshape(b, t, 2), pca_label, "First two principal components")]
    else:  # a 1-D latent space: plot z against time
        views = [(np.stack([np.broadcast_to(np.arange(t), (b, t)), z[..., 0]], -1),
                  ("output index", "$z_1$ (a.u.)"), "Latent trajectories")]
    fig, ax = figure(ncols=len(views), width=4.4, height=3.9)
    for a, (xy, (xl, yl), title) in zip(ax[0], views, strict=True):
        for i in range(b):
            color = CW if clockwise[i] else CCW
            a.plot(xy[i, :, 0], xy[i, :, 1], color=color, lw=0.7, alpha=0.5)
            a.plot(xy[i, 0, 0], xy[i, 0, 1], "o", color=color, ms=2.5)
        a.set(xlabel=xl, ylabel=yl, title=title)
    ax[0, 0].legend(handles=[Line2D([], [], color=CW, label="clockwise"),
                             Line2D([], [], color=CCW, label="counter-clockwise")], loc="best")
    save(fig, path)


def interpolation(paths: np.ndarray, times: np.ndarray, alphas: np.ndarray,
                  path: Path) -> None:
    """Decoded trajectories x(t) (K, T, 2) from z_t0 = (1 - alpha) z_cw + alpha z_ccw,
    one panel per alpha, coloured by time from purple to red as in paper Fig. 9."""
    k = len(paths)
    ncols = min(k, 5)
    nrows = -(-k // ncols)
    fig, ax = figure(ncols=ncols, nrows=nrows, width=2.6, height=2.6)
    fig.set_layout_engine("constrained")
    lo, hi = paths.reshape(-1, 2).min(axis=0), paths.reshape(-1, 2).max(axis=0)
    pad = 0.05 * (hi - lo) + 1e-6
    sc = None
    for i, a in enumerate(ax.flat):
        if i >= k:
            a.set_axis_off()
            continue
        sc = a.scatter(paths[i, :, 0], paths[i, :, 1], c=times, cmap="rainbow", s=3)
        a.set(xlim=(lo[0] - pad[0], hi[0] + pad[0]), ylim=(lo[1] - pad[1], hi[1] + pad[1]),
              title=rf"$\alpha$ = {alphas[i]:.2f}")
        if i % ncols == 0:
            a.set_ylabel(X2)
        if i // ncols == nrows - 1:
            a.set_xlabel(X1)
    if sc is not None:
        fig.colorbar(sc, ax=ax.ravel().tolist(), label=T, shrink=0.7)
    fig.suptitle(r"Decoded from $z_{t_0}$ on the line from a clockwise ($\alpha$=0) to a "
                 r"counter-clockwise ($\alpha$=1) test spiral")
    save(fig, path)


def rmse_budget(curves: Mapping[int, Mapping[str, Sequence[Sequence[Mapping[str, float]]]]],
                paper: Mapping[str, Mapping[int, float]], path: Path) -> None:
    """Predictive RMSE against training iterations, one panel per n_obs (``curves``:
    n_obs -> variant -> one budget curve per seed, rows of evaluate_latent's budget
    CSV): each variant's mean over seeds, the seed range (min-max) shaded, and the
    paper's Table 2 value (``paper``: variant -> n_obs -> RMSE, where it has one)
    dashed in the variant's colour."""
    fig, ax = figure(ncols=len(curves), width=4.4)
    for a, (n_obs, by_variant) in zip(ax[0], curves.items(), strict=True):
        for i, (variant, runs) in enumerate(by_variant.items()):
            label, color = VARIANTS.get(variant, (variant, f"C{i + 2}"))
            if runs and runs[0]:  # budget_points: 0 has no curve
                steps = np.array([[r["step"] for r in run] for run in runs]).mean(0)  # (P,)
                rmse = np.array([[r["pred_rmse"] for r in run] for run in runs])  # (S, P)
                a.plot(steps, rmse.mean(0), "o-", color=color, ms=3,
                       label=f"{label} (ours, {len(runs)} seed{'s' * (len(runs) > 1)})")
                if len(runs) > 1:
                    a.fill_between(steps, rmse.min(0), rmse.max(0), color=color, alpha=0.2,
                                   lw=0)
            if n_obs in paper.get(variant, {}):
                a.axhline(paper[variant][n_obs], color=color, ls="--", lw=1,
                          label=f"{label} (paper)")
        a.legend(loc="best")
        a.set(xlabel="training iterations", ylabel="predictive RMSE (a.u.)",
              title=f"{n_obs} observations")
    save(fig, path)


def _grid_spirals(data: dict[str, np.ndarray], count: int = 9) -> np.ndarray:
    """``count`` test spirals, alternating clockwise and counter-clockwise."""
    test = data["test_idx"]
    cw, ccw = test[data["clockwise"][test]], test[~data["clockwise"][test]]
    mixed = [i for pair in zip(cw, ccw, strict=False) for i in pair]
    rest = sorted(set(test) - set(mixed))  # the surplus of the larger direction
    return np.array((mixed + rest)[:count])


@torch.no_grad()
def draw_run(model: SequenceModel, data: dict[str, np.ndarray], n_obs: int,
             cfg: LatentFigures, out: Path, title: str) -> list[Path]:
    """Fig. 8a-b for both models; Fig. 8c and the z_t0 interpolation (Fig. 9's idea) for
    the latent ODE, whose z_t0 is the posterior mean of each test spiral, from a saved
    model. Returns the files written."""
    device = next(model.parameters()).device
    t = data["t"]  # (W+F,) window and future times
    w = int(data["n_window"])
    idx = _grid_spirals(data)
    batch = make_batch(data, n_obs, idx, device=device)
    pred = model.predict(batch)
    dense = torch.linspace(0.0, float(t[-1]), cfg.points, device=device)  # (K,)
    window = dense <= float(t[w - 1])
    if isinstance(model, LatentODE):
        # a continuous decoded path: reconstruction inside the window, then extrapolation
        path = model.decode_path(pred.z0_mean, dense).cpu().numpy()  # (B, K, 2)
        inside = window.cpu().numpy()
        after = np.r_[inside[1:] != inside[:-1], False] | ~inside  # joins at the window end
        fit_x, fut_x = path[:, inside], path[:, after]
    else:  # the RNN predicts at the observed, then the future, times only
        fit_x, fut_x = pred.recon.cpu().numpy(), pred.future.cpu().numpy()
    panels = [SpiralPanel(t_obs=batch.t_obs[i].cpu().numpy(),
                          x_obs=batch.x_obs[i].cpu().numpy(), true=data["true"][j],
                          fit=fit_x[i], future=fut_x[i], clockwise=bool(data["clockwise"][j]))
              for i, j in enumerate(idx)]
    reconstructions(panels, float(t[w - 1]), title, out / "reconstructions.png")
    if not isinstance(model, LatentODE):
        return [out / "reconstructions.png"]
    test = data["test_idx"]
    take = test[np.linspace(0, len(test) - 1, min(cfg.projection_spirals, len(test)))
                .round().astype(int)]
    sub = make_batch(data, n_obs, take, device=device)
    z0, _ = model.encode(sub)  # (B, L) posterior means
    z = model.latent_trajectory(z0, dense)  # (B, K, L)
    latent_projection(z.cpu().numpy(), data["clockwise"][take], out / "latent_projection.png")
    # the first clockwise and counter-clockwise test spirals (the split has both)
    pair = [test[data["clockwise"][test]][0], test[~data["clockwise"][test]][0]]
    ends, _ = model.encode(make_batch(data, n_obs, pair, device=device))  # (2, L): cw, ccw
    alphas = torch.linspace(0.0, 1.0, cfg.interpolation_steps, device=device)  # (A,)
    line = (1 - alphas)[:, None] * ends[0] + alphas[:, None] * ends[1]  # (A, L)
    paths = model.decode_path(line, dense).cpu().numpy()  # (A, K, 2)
    interpolation(paths, dense.cpu().numpy(), alphas.cpu().numpy(), out / "interpolation.png")
    return [out / f for f in ("reconstructions.png", "latent_projection.png",
                              "interpolation.png")]
