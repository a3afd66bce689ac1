"""Figures of the MNIST experiments: training curves (Table 1 runs), the learning curve
against the paper's Table 1 values, peak memory vs NFE (paper sec. 2 / Table 1
"Memory") and the four panels of paper Figure 3."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .curves import MNIST, loss_panel, nfe_panel
from .style import MODEL, OBS, TRUE, figure, save


def training_curves(steps: Sequence[Mapping[str, float]], steps_per_epoch: int,
                    test_error: float, title: str, path: Path) -> None:
    """Loss and NFE per iteration (x: epochs), and the training error per epoch with
    the saved model's test error (evaluate_mnist) beside it."""
    x = np.arange(1, len(steps) + 1) / steps_per_epoch  # (N,) fractional epoch
    fig, ax = figure(ncols=3, width=4.0)
    a, b, c = ax[0]
    loss_panel(a, x, np.array([r["loss"] for r in steps]), MNIST)
    a.set(xlabel="epoch", ylabel="training loss (cross-entropy, nats)", yscale="log",
          title=f"{title}: loss")
    nfe_panel(b, x, steps, MNIST)
    b.set(xlabel="epoch", ylabel="function evaluations per iteration", title="NFE")
    epoch = np.array([r["epoch"] for r in steps], dtype=int)
    ep = np.unique(epoch)
    train_err = [100 * (1 - np.mean([r["accuracy"] for r, e in zip(steps, epoch, strict=True)
                                     if e == k])) for k in ep]
    c.plot(ep, train_err, "o-", color=MODEL, label="training (mean over the epoch)")
    c.axhline(test_error, color=TRUE, ls="--", label=f"test, final model: {test_error:.2f}%")
    c.legend(loc="best")
    c.set(xlabel="epoch", ylabel="error (%)", title="Error")
    save(fig, path)


def learning_curve(curves: Mapping[str, Sequence[Sequence[Mapping[str, float]]]],
                   paper: Mapping[str, float], path: Path) -> None:
    """Test error (%) against epochs for each model (``curves``: label -> one curve per
    seed, rows of epoch and test_error): the mean over seeds, the seed range shaded,
    and the paper's final Table 1 value (``paper``: label -> error) as a dashed line."""
    fig, ax = figure(width=6.0, height=4.2)
    a = ax[0, 0]
    for i, (label, runs) in enumerate(curves.items()):
        if not runs or not runs[0]:
            continue  # train_mnist.curve.points: 0
        color = f"C{i}"
        x = np.array([r["epoch"] for r in runs[0]])  # (P,) the same points in every seed
        err = np.array([[r["test_error"] for r in run] for run in runs])  # (S, P)
        a.plot(x, err.mean(0), "o-", color=color, ms=3,
               label=f"{label} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
        if len(runs) > 1:
            a.fill_between(x, err.min(0), err.max(0), color=color, alpha=0.2, lw=0)
        if label in paper:
            a.axhline(paper[label], color=color, ls="--", lw=1)
    a.plot([], [], "k--", lw=1, label="paper, after 160 epochs")
    a.legend(loc="best")
    a.set(xlabel="epoch", ylabel="test error (%), log scale", yscale="log",
          title="Learning curve against Table 1")
    save(fig, path)


def memory_vs_nfe(nfe: Sequence[int], curves: Mapping[str, Sequence[float]], batch: int,
                  method: str, path: Path) -> None:
    """Peak training-step memory against forward NFE for fixed-grid solves."""
    fig, ax = figure(width=5.0)
    a = ax[0, 0]
    for (label, mb), color in zip(curves.items(), (MODEL, OBS, TRUE), strict=False):
        a.plot(nfe, mb, "o-", color=color, label=label)
    # linear axes: O(L~) memory is then a straight line, O(1) a flat one
    a.set(xlabel=f"forward NFE ({method}, fixed steps)", xlim=(0, None),
          ylabel="peak memory of one training step (MB)", ylim=(0, None),
          title=f"Memory vs depth, batch {batch}")
    a.set_xticks([0, *nfe])
    a.legend(loc="best")
    save(fig, path)


# one colour and marker per solver family in Figure 3 (a-c)
_SOLVER_STYLE = ((MODEL, "o"), (OBS, "s"), ("#2ca02c", "^"), ("#9467bd", "v"))


def fig3a_error_vs_nfe(sweeps: Mapping[str, Sequence[Mapping[str, float]]], path: Path
                       ) -> None:
    """Fig. 3a: numerical error of z(t1) (log) against forward NFE, one point per
    tolerance and one line per solver family, axes as in the paper."""
    fig, ax = figure(width=4.8)
    a = ax[0, 0]
    for (method, rows), (color, marker) in zip(sweeps.items(), _SOLVER_STYLE, strict=False):
        nfe, error = [r["nfe_forward"] for r in rows], [r["error"] for r in rows]
        a.plot(nfe, error, marker=marker, color=color, label=method)
        for r in rows[::2]:
            a.annotate(f"{r['tol']:.0e}", (r["nfe_forward"], r["error"]), color=color,
                       textcoords="offset points", xytext=(4, 3), fontsize=6)
    a.set(xscale="log", yscale="log", xlabel="forward NFE (log)",
          ylabel="numerical error of z(t1)\n(relative RMS vs reference)",
          title="(a) NFE vs numerical error, labels: tol")
    a.legend(loc="best")
    save(fig, path)


def fig3b_time_vs_nfe(sweeps: Mapping[str, Sequence[Mapping[str, float]]],
                      fits: Mapping[str, Mapping[str, float]], path: Path) -> None:
    """Fig. 3b: wall time of a forward solve against forward NFE, with each solver
    family's least-squares line (``fits``: ms_per_nfe, intercept_ms, r2)."""
    fig, ax = figure(width=4.8)
    a = ax[0, 0]
    top = max(r["nfe_forward"] for rows in sweeps.values() for r in rows) * 1.05
    xs = np.linspace(0, top, 50)
    for (method, rows), (color, marker) in zip(sweeps.items(), _SOLVER_STYLE, strict=False):
        fit = fits[method]
        a.plot([r["nfe_forward"] for r in rows], [1000 * r["time_s"] for r in rows], marker,
               color=color, label=f"{method}: {fit['ms_per_nfe']:.1f} ms/NFE, "
                                  f"$R^2$ = {fit['r2']:.3f}")
        a.plot(xs, fit["intercept_ms"] + fit["ms_per_nfe"] * xs, color=color, lw=0.8)
    a.set(xlabel="forward NFE", ylabel="forward solve wall time (ms, median)",
          xlim=(0, None), ylim=(0, None), title="(b) Time vs NFE")
    a.legend(loc="best", fontsize=7)
    save(fig, path)


def fig3c_backward_vs_forward(nfe_f: Sequence[float], nfe_b: Sequence[float], ratio: float,
                              trained: Mapping[str, Sequence[Mapping[str, float]]],
                              path: Path) -> None:
    """Fig. 3c: NFE-B against NFE-F per training iteration (the training log), with
    y = x and y = x/2; and, as larger markers, one adjoint gradient of the trained
    model per solver family and tolerance (``trained``: nfe_forward, nfe_backward)."""
    fig, ax = figure(width=4.8)
    a = ax[0, 0]
    f, b = np.asarray(nfe_f, float), np.asarray(nfe_b, float)
    jitter = np.random.default_rng(0).uniform(-0.3, 0.3, (2, len(f)))  # integers overlap
    a.scatter(f + jitter[0], b + jitter[1], s=4, alpha=0.3, color="#999999",
              label="training iterations")
    top = max(f.max(), b.max())
    for (method, rows), (color, marker) in zip(trained.items(), _SOLVER_STYLE, strict=False):
        a.scatter([r["nfe_forward"] for r in rows], [r["nfe_backward"] for r in rows], s=30,
                  marker=marker, color=color, label=f"trained model, {method}")
        top = max(top, *(max(r["nfe_forward"], r["nfe_backward"]) for r in rows))
    top *= 1.1
    a.plot([0, top], [0, top], color=TRUE, lw=0.8, ls="--", label="NFE-B = NFE-F")
    a.plot([0, top], [0, top / 2], color=TRUE, lw=0.8, ls=":", label="NFE-B = NFE-F / 2 (paper)")
    a.set(xlabel="forward NFE", ylabel="backward NFE", xlim=(0, top), ylim=(0, top),
          title=f"(c) NFE-B / NFE-F: {ratio:.2f} in training (mean)")
    a.legend(loc="best", fontsize=6)
    save(fig, path)


def fig3d_nfe_vs_epoch(epoch_frac: Sequence[float], nfe_f: Sequence[float],
                       epoch_means: Mapping[int, float], slope: float, path: Path) -> None:
    """Fig. 3d: forward NFE per iteration over training, with per-epoch means."""
    fig, ax = figure(width=4.8)
    a = ax[0, 0]
    a.plot(epoch_frac, nfe_f, color=MODEL, lw=0.5, alpha=0.5, label="per iteration")
    ep = sorted(epoch_means)
    a.plot([e - 0.5 for e in ep], [epoch_means[e] for e in ep], "o-", color=TRUE,
           label="epoch mean")
    a.set(xlabel="training epoch", ylabel="forward NFE per iteration",
          title=f"(d) NFE over training (slope {slope:+.2f} / epoch)")
    a.legend(loc="best")
    save(fig, path)


FIG3 = ("fig3a_nfe_vs_error.png", "fig3b_time_vs_nfe.png",
        "fig3c_nfe_backward_vs_forward.png", "fig3d_nfe_vs_epoch.png")


def draw_all(metrics: Path, runs: Mapping[str, Sequence[str]], study_run: str, out: Path, *,
             memory: Path, study: Path, paper: Mapping[str, float],
             memory_setup: tuple[int, str]) -> list[Path]:
    """Every MNIST figure: each run's training curves (``metrics/<run>_log.csv`` and
    evaluate_mnist's test error in ``<run>.json``; ``runs``: model label -> its runs),
    the learning curve (``<run>_curve.csv``, against ``paper``: label -> Table 1's
    error), memory vs NFE (mnist_memory's ``memory`` JSON, measured at
    ``memory_setup``: its batch size and method) and Figure 3 (a-d: nfe_study's
    ``study`` JSON, every solver
    family's sweep and ratios in it, and the studied run's training log). Returns the
    files."""
    from ..experiments.nfe_study import read_log, training_stats
    from ..io import read_csv, read_json

    files = []
    for run in (r for model_runs in runs.values() for r in model_runs):
        steps = read_csv(metrics / f"{run}_log.csv")
        facts = read_json(metrics / f"{run}.json")
        files.append(out / f"{run}_training.png")
        training_curves(steps, int(facts["steps_per_epoch"]), float(facts["test_error"]), run,
                        files[-1])
    files.append(out / "learning_curve.png")
    learning_curve({label: [read_csv(metrics / f"{r}_curve.csv") for r in model_runs]
                    for label, model_runs in runs.items()}, paper, files[-1])
    mem = read_json(memory)
    files.append(out / "memory_vs_nfe.png")
    memory_vs_nfe(mem["nfe_forward"], {"ODE-Net (adjoint)": mem["odenet_mb"],
                                       "RK-Net (backprop through solver)": mem["rknet_mb"]},
                  *memory_setup, files[-1])
    facts = read_json(study)
    by_method = facts["by_method"]
    log = read_log(metrics / f"{study_run}_log.csv")
    train = training_stats(log)
    paths = [out / name for name in FIG3]
    fig3a_error_vs_nfe({m: v["sweep"] for m, v in by_method.items()}, paths[0])
    fig3b_time_vs_nfe({m: v["sweep"] for m, v in by_method.items()},
                      {m: v["time_vs_nfe_s"] for m, v in by_method.items()}, paths[1])
    fig3c_backward_vs_forward(log["nfe_forward"], log["nfe_backward"],
                              facts["nfe_backward_over_forward_mean"],
                              {m: v["backward_over_forward"] for m, v in by_method.items()},
                              paths[2])
    fig3d_nfe_vs_epoch(train["_frac"], log["nfe_forward"], train["_means"],
                       facts["nfe_forward_slope_per_epoch"], paths[3])
    return files + paths
