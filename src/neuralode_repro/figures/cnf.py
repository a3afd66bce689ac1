"""Figures of the continuous vs planar normalizing flow experiments (paper sec. 4.1):
the noise-to-data transformation of Figure 5 and its NLL against the training budget,
the density-matching panels of Figure 4 (a)-(c) and the loss-versus-capacity
comparison of Figure 4 (d).

:func:`draw_all` (stage figures_cnf) draws every one of them from the saved models,
the evaluation metrics and the training logs; it never trains."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import load_model
from ..config import SolverConfig
from ..experiments.cnf import model_from_config
from ..experiments.cnf_eval import density_arrays, transformation_arrays
from ..io import read_csv, read_json
from ..runs import cnf as cnf_run
from .config import CNFFiguresConfig
from .curves import CNF, loss_panel, nfe_panel
from .style import MODEL, OBS, TRUE, figure, save

COLORS = {"cnf": MODEL, "nf": OBS}
LABELS = {"cnf": "CNF (width M)", "nf": "planar NF (depth K)"}
_CMAP = "viridis"


def _panel(ax, lim: float, *, xlabel: bool, ylabel: bool, title: str) -> None:
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", title=title)
    ax.grid(False)
    if xlabel:
        ax.set_xlabel("$x_1$")
    if ylabel:
        ax.set_ylabel("$x_2$")


def _hist(ax, x: np.ndarray, lim: float, bins: int = 80) -> None:
    ax.hist2d(x[:, 0], x[:, 1], bins=bins, range=[[-lim, lim], [-lim, lim]], cmap=_CMAP)


def _density(ax, logp: np.ndarray, lim: float) -> None:
    """exp(log p) on a square grid (n, n), rows along x_2 (``toy2d.grid`` order)."""
    ax.imshow(np.exp(logp), origin="lower", extent=(-lim, lim, -lim, lim), cmap=_CMAP)


def transformation(samples: np.ndarray, log_q: np.ndarray, labels: Sequence[str],
                   target: np.ndarray, lim: float, title: str, path: Path) -> None:
    """Paper Fig. 5: samples (top) and density (bottom) as the flow moves the base
    toward the data, one column per time (CNF) or depth (NF), the target last.

    samples (S, N, 2), log_q (S, n, n) on ``toy2d.grid(lim, n)``, target (N', 2).
    """
    cols = len(labels) + 1
    fig, ax = figure(ncols=cols, nrows=2, width=2.4, height=2.5)
    for j, label in enumerate(labels):
        _hist(ax[0, j], samples[j], lim)
        _panel(ax[0, j], lim, xlabel=False, ylabel=j == 0, title=f"samples, {label}")
        _density(ax[1, j], log_q[j], lim)
        _panel(ax[1, j], lim, xlabel=True, ylabel=j == 0, title=f"density, {label}")
    _hist(ax[0, -1], target, lim)
    _panel(ax[0, -1], lim, xlabel=False, ylabel=False, title="target samples")
    _hist(ax[1, -1], target, lim, bins=60)
    _panel(ax[1, -1], lim, xlabel=True, ylabel=False, title="target histogram")
    fig.suptitle(title)
    save(fig, path)


def training_curves(rows: Sequence[Mapping[str, float]], ylabel: str, title: str, path: Path,
                    offset: float = 0.0) -> None:
    """Loss (+ ``offset``) and NFE per iteration from the loop's per-step ``rows``
    (the NFE panel is flat at 0 for a planar NF: it has no solver)."""
    steps = np.arange(1, len(rows) + 1)
    fig, ax = figure(ncols=2)
    loss_panel(ax[0, 0], steps, np.array([r["loss"] for r in rows]) + offset, CNF)
    ax[0, 0].set(xlabel="iteration", ylabel=ylabel, title=title)
    nfe_panel(ax[0, 1], steps, rows, CNF)
    ax[0, 1].set(xlabel="iteration", ylabel="function evaluations", title="Solver cost")
    save(fig, path)


def density_match(log_p: np.ndarray, log_q: np.ndarray, samples: np.ndarray, lim: float,
                  title: str, path: Path) -> None:
    """Paper Fig. 4 (a)-(c) for one model: target p, learned q, samples of q."""
    fig, ax = figure(ncols=3, width=3.2, height=3.3)
    _density(ax[0, 0], log_p, lim)
    _panel(ax[0, 0], lim, xlabel=True, ylabel=True, title="target p")
    _density(ax[0, 1], log_q, lim)
    _panel(ax[0, 1], lim, xlabel=True, ylabel=False, title="learned q")
    _hist(ax[0, 2], samples, lim)
    _panel(ax[0, 2], lim, xlabel=True, ylabel=False, title="samples of q")
    fig.suptitle(title)
    save(fig, path)


def capacity_grid(log_p: np.ndarray, log_q: Mapping[str, Sequence[np.ndarray]],
                  widths: Sequence[int], lim: float, path: Path) -> None:
    """Paper Fig. 4 (a)-(c): the target, then one row per model, one column per
    capacity (K layers for the NF, M units for the CNF)."""
    fig, ax = figure(ncols=len(widths) + 1, nrows=len(log_q), width=2.5, height=2.6)
    for i, (kind, grids) in enumerate(log_q.items()):
        letter = "K" if kind == "nf" else "M"
        if i == 0:
            _density(ax[0, 0], log_p, lim)
            _panel(ax[0, 0], lim, xlabel=False, ylabel=True, title="target p")
        else:
            ax[i, 0].axis("off")
        for j, (w, grid) in enumerate(zip(widths, grids, strict=True)):
            _density(ax[i, j + 1], grid, lim)
            _panel(ax[i, j + 1], lim, xlabel=i == len(log_q) - 1, ylabel=i > 0 and j == 0,
                   title=f"{kind.upper()}, {letter} = {w}")
    save(fig, path)


def capacity_losses(widths: Sequence[int], kl: Mapping[str, Sequence[float]],
                    lo: Mapping[str, Sequence[float]], hi: Mapping[str, Sequence[float]],
                    path: Path, n_seeds: int = 1) -> None:
    """Paper Fig. 4 (d): final KL(q || p) against capacity K = M, one line per model:
    the mean over seeds, with bars from the lowest to the highest seed."""
    fig, ax = figure(width=4.6)
    for kind, values in kl.items():
        yerr = np.array([[v - a for v, a in zip(values, lo[kind], strict=True)],
                         [b - v for v, b in zip(values, hi[kind], strict=True)]])  # (2, W)
        ax[0, 0].errorbar(widths, values, yerr=yerr, marker="o", capsize=3,
                          color=COLORS.get(kind, TRUE), label=LABELS.get(kind, kind))
    ax[0, 0].set_xscale("log", base=2)
    ax[0, 0].set_xticks(list(widths), [str(w) for w in widths])
    ax[0, 0].set(xlabel="capacity K = M", ylabel="KL(q || p) (nats)",
                 title=f"Density matching: final loss ({n_seeds} seed"
                       f"{'s, mean and range' if n_seeds > 1 else ''})")
    ax[0, 0].legend(loc="best")
    save(fig, path)


# --- every figure of the experiment from its files (stage figures_cnf) ---------------

ML_FILES = ("transformation.png", "training.png")
CAPACITY_FILES = ("density.png", "training.png")
SUMMARY_FILES = ("loss_vs_capacity.png", "densities.png")


# the budget axes: the deterministic one first (FLOPs, the claim's), then CPU seconds
BUDGET_AXES = (("train_flops", "training FLOPs"),
               ("train_time_s", "training time (CPU s)"))


def budget_curves(curves: Mapping[str, Mapping[str, Sequence[Sequence[Mapping[str, float]]]]],
                  floors: Mapping[str, float], path: Path) -> None:
    """Held-out NLL against training FLOPs (top row) and seconds (bottom row), one
    column per target (``curves``: target -> kind -> one budget curve per seed): each
    model's mean over seeds at its mean cost, the seed range shaded, and the true
    density's NLL (the floor) dashed."""
    fig, ax = figure(ncols=len(curves), nrows=len(BUDGET_AXES), width=4.4)
    for col, (target, by_kind) in enumerate(curves.items()):
        for row, (key, label) in enumerate(BUDGET_AXES):
            a = ax[row][col]
            for kind, runs in by_kind.items():
                if not runs or not runs[0]:
                    continue  # budget_points: 0
                x = np.array([[r[key] for r in run] for run in runs]).mean(0)  # (P,)
                nll = np.array([[r["test_nll"] for r in run] for run in runs])  # (S, P)
                a.plot(x, nll.mean(0), "o-", color=COLORS[kind], ms=3, label=kind.upper())
                if len(runs) > 1:
                    a.fill_between(x, nll.min(0), nll.max(0), color=COLORS[kind], alpha=0.2,
                                   lw=0)
            a.axhline(floors[target], color=TRUE, ls="--", lw=1, label="true density (floor)")
            a.legend(loc="best")
            a.set(xlabel=label, ylabel="held-out NLL (nats)", title=target)
    save(fig, path)


def _letter(kind: str) -> str:
    return "M" if kind == "cnf" else "K"


def draw_all(targets: Sequence[str], widths: Sequence[int], seeds: Sequence[int],
             figs: CNFFiguresConfig, solvers: Mapping[str, SolverConfig], weights_dir: Path,
             metrics_dir: Path, out: Path) -> list[Path]:
    """Figs. 4-5 for the runs the params declare: ``out/ml_<target>_<kind>/``,
    ``out/capacity_<kind>_<width>/`` (the runs of the first seed: the figures
    illustrate) and ``out/capacity/`` (every seed), from the model files in
    ``weights_dir/<task>/`` (each checked to be the run its name says), the metrics and
    logs in ``metrics_dir/<task>/`` and ``metrics_dir/capacity.csv``; densities are
    integrated by ``solvers[task]`` (the evaluation solver: the figures show the density
    the metrics score). Returns the files written."""
    written: list[Path] = []
    ml, seed = figs.ml, seeds[0]
    for target in targets:
        for kind in ("cnf", "nf"):
            run = cnf_run("ml", kind, seed, target=target)
            model, config, _ = load_model(weights_dir / "ml" / run.file("weights"),
                                          model_from_config, expected=run.identity())
            a = transformation_arrays(model, config, ml.fractions, ml.samples, ml.lim,
                                      ml.grid, solvers["ml"])
            width = config["model"]["width"]
            labels = [f"t = {f * config['model']['t1']:.3g}" if kind == "cnf"
                      else f"k = {round(f * width)}" for f in ml.fractions]
            title = f"{target}: {kind.upper()} ({_letter(kind)} = {width})"
            folder = out / f"ml_{target}_{kind}"
            transformation(a["samples"], a["log_q"], labels, a["target"], ml.lim, title,
                           folder / "transformation.png")
            training_curves(read_csv(metrics_dir / "ml" / run.file("log")), "NLL (nats)",
                            title, folder / "training.png")
            written += [folder / f for f in ML_FILES]
    def ml_file(t: str, k: str, s: int, kind: str) -> Path:
        return metrics_dir / "ml" / cnf_run("ml", k, s, target=t).file(kind)

    curves = {t: {k: [read_csv(ml_file(t, k, s, "budget")) for s in seeds]
                  for k in ("cnf", "nf")} for t in targets}
    floors = {t: float(np.mean([read_json(ml_file(t, "cnf", s, "metrics"))["true_nll"]
                                for s in seeds])) for t in targets}
    written.append(out / "ml_budget.png")
    budget_curves(curves, floors, written[-1])
    cap = figs.capacity
    grids: dict[str, list[np.ndarray]] = {"nf": [], "cnf": []}  # NF row first, as in Fig. 4
    log_p = np.zeros(0)
    for kind in ("cnf", "nf"):
        for w in widths:
            run = cnf_run("capacity", kind, seed, width=w)
            model, config, _ = load_model(weights_dir / "capacity" / run.file("weights"),
                                          model_from_config, expected=run.identity())
            m: dict[str, Any] = read_json(metrics_dir / "capacity" / run.file("metrics"))
            a = density_arrays(model, config, cap.samples, cap.lim, cap.grid, m["log_z"],
                               solvers["capacity"])
            log_p = a["log_p"]
            grids[kind].append(a["log_q"])
            title = (f"{config['target']['name']}: {kind.upper()}, {_letter(kind)} = {w}, "
                     f"KL = {m['final_kl']:.3f}")
            folder = out / f"capacity_{kind}_{w}"
            density_match(a["log_p"], a["log_q"], a["samples"], cap.lim, title,
                          folder / "density.png")
            training_curves(read_csv(metrics_dir / "capacity" / run.file("log")),
                            "KL(q || p) estimate (nats)", title, folder / "training.png",
                            offset=m["log_z"])
            written += [folder / f for f in CAPACITY_FILES]
    rows = {int(r["width"]): r for r in read_csv(metrics_dir / "capacity.csv")}
    missing = [w for w in widths if w not in rows]
    if missing:
        raise ValueError(f"{metrics_dir / 'capacity.csv'} has no widths {missing}; rerun "
                         "evaluate_cnf_capacity_summary (dvc repro)")
    kl, lo, hi = ({k: [rows[w][f"{k}{part}"] for w in widths] for k in ("cnf", "nf")}
                  for part in ("", "_lo", "_hi"))
    capacity_losses(widths, kl, lo, hi, out / "capacity" / "loss_vs_capacity.png",
                    n_seeds=len(seeds))
    capacity_grid(log_p, grids, widths, cap.lim, out / "capacity" / "densities.png")
    return written + [out / "capacity" / f for f in SUMMARY_FILES]
