"""Figures of the MNIST experiments: training curves (Table 1 runs), peak memory vs
NFE (paper sec. 2 / Table 1 "Memory") and the four panels of paper Figure 3."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .style import MODEL, OBS, TRUE, figure, save


def training_curves(steps: Sequence[Mapping[str, float]], epochs: Sequence[Mapping[str, float]],
                    steps_per_epoch: int, title: str, path: Path) -> None:
    """Loss and NFE per iteration (x: epochs) and test error per epoch."""
    x = np.arange(1, len(steps) + 1) / steps_per_epoch  # (N,) fractional epoch
    fig, ax = figure(ncols=3, width=4.0)
    a, b, c = ax[0]
    loss = np.array([r["loss"] for r in steps])
    a.plot(x, loss, color=MODEL, lw=0.5, alpha=0.4, label="per iteration")
    k = max(1, len(loss) // 50)  # running mean over ~2% of the run: the trend, not noise
    if k > 1:
        a.plot(x[k - 1:], np.convolve(loss, np.ones(k) / k, "valid"), color=MODEL, lw=1.2,
               label=f"mean of {k}")
    a.legend(loc="best")
    a.set(xlabel="epoch", ylabel="training loss (cross-entropy, nats)", yscale="log",
          title=f"{title}: loss")
    nfe_f = np.array([r["nfe_forward"] for r in steps], dtype=float)
    nfe_b = np.array([r["nfe_backward"] for r in steps], dtype=float)
    if nfe_f.any():
        b.plot(x, nfe_f, color=OBS, lw=0.8, label="NFE-F (forward)")
        b.plot(x, nfe_b, color=MODEL, lw=0.8, label="NFE-B (backward)")
        b.legend(loc="best")
    else:
        b.text(0.5, 0.5, "no ODE solver\n(NFE = 0)", ha="center", va="center",
               transform=b.transAxes)
    b.set(xlabel="epoch", ylabel="function evaluations per iteration", title="NFE")
    ep = [e["epoch"] for e in epochs]
    c.plot(ep, [e["test_error"] for e in epochs], "o-", color=TRUE)
    c.set(xlabel="epoch", ylabel="test error (%)", title="Test error")
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


def fig3a_error_vs_nfe(nfe: Sequence[float], error: Sequence[float], tol: Sequence[float],
                       path: Path) -> None:
    """Fig. 3a: numerical error of z(t1) (log) against forward NFE, one point per
    tolerance, axes as in the paper."""
    fig, ax = figure(width=4.8)
    a = ax[0, 0]
    a.plot(nfe, error, "o-", color=MODEL)
    for e, n, t in zip(error, nfe, tol, strict=True):
        a.annotate(f"tol {t:.0e}", (n, e), textcoords="offset points", xytext=(4, 3),
                   fontsize=7)
    a.set(yscale="log", xlabel="forward NFE",
          ylabel="numerical error of z(t1)\n(relative RMS vs reference)",
          title="(a) NFE vs numerical error")
    save(fig, path)


def fig3b_time_vs_nfe(nfe: Sequence[float], seconds: Sequence[float], fit: tuple[float, float],
                      r2: float, path: Path) -> None:
    """Fig. 3b: wall time of a forward solve against forward NFE, with the LS line."""
    fig, ax = figure(width=4.8)
    a = ax[0, 0]
    ms = 1000 * np.asarray(seconds)
    a.plot(nfe, ms, "o", color=MODEL, label="measured (median)")
    xs = np.linspace(0, max(nfe) * 1.05, 50)
    a.plot(xs, 1000 * (fit[0] + fit[1] * xs), color=TRUE, lw=1,
           label=f"linear fit, $R^2$ = {r2:.3f}")
    a.set(xlabel="forward NFE", ylabel="forward solve wall time (ms)", xlim=(0, None),
          ylim=(0, None), title="(b) Time vs NFE")
    a.legend(loc="best")
    save(fig, path)


def fig3c_backward_vs_forward(nfe_f: Sequence[float], nfe_b: Sequence[float], ratio: float,
                              path: Path) -> None:
    """Fig. 3c: NFE-B against NFE-F per training iteration, with y = x and y = x/2."""
    fig, ax = figure(width=4.8)
    a = ax[0, 0]
    f, b = np.asarray(nfe_f, float), np.asarray(nfe_b, float)
    jitter = np.random.default_rng(0).uniform(-0.3, 0.3, (2, len(f)))  # integers overlap
    a.scatter(f + jitter[0], b + jitter[1], s=4, alpha=0.3, color=MODEL, label="iterations")
    top = max(f.max(), b.max()) * 1.1
    a.plot([0, top], [0, top], color=TRUE, lw=0.8, ls="--", label="NFE-B = NFE-F")
    a.plot([0, top], [0, top / 2], color=OBS, lw=0.8, ls=":", label="NFE-B = NFE-F / 2 (paper)")
    a.set(xlabel="forward NFE per iteration", ylabel="backward NFE per iteration",
          xlim=(0, top), ylim=(0, top), title=f"(c) NFE-B / NFE-F = {ratio:.2f} (mean)")
    a.legend(loc="best")
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
