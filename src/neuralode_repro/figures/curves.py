"""Per-iteration training curves, shared by the MNIST (Table 1) and CNF (sec. 4.1)
figures: the training loss with its running mean, and the solver's cost, NFE-F and
NFE-B per iteration (paper sec. 3, Fig. 3's measure of cost). Each family keeps its
own look, a :class:`CurveStyle`: variation is data, the drawing is written once."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .style import MODEL, OBS, TRUE


@dataclasses.dataclass(frozen=True)
class CurveStyle:
    """How a figure family draws its curves: the raw loss's legend label, width and
    opacity; the running mean's colour, and whether a mean of 1 (the raw curve again,
    in runs under 100 steps) is drawn; NFE-F's and NFE-B's colours and labels; and
    whether a run without a solver (all NFE 0) gets a note instead of flat lines."""

    raw_label: str
    raw_lw: float
    raw_alpha: float
    mean_color: str
    mean_of_one: bool
    nfe_colors: tuple[str, str]
    nfe_labels: tuple[str, str]
    note_no_solver: bool


MNIST = CurveStyle("per iteration", 0.5, 0.4, MODEL, False, (OBS, MODEL),
                   ("NFE-F (forward)", "NFE-B (backward)"), True)
CNF = CurveStyle("per batch", 0.6, 0.5, TRUE, True, (MODEL, OBS), ("NFE-F", "NFE-B"), False)


def loss_panel(ax: Any, x: np.ndarray, loss: np.ndarray, style: CurveStyle) -> None:
    """The loss per iteration at ``x`` (N,), and its running mean over k = N // 50
    iterations (~2% of the run: the trend, not the noise), with a legend."""
    ax.plot(x, loss, color=MODEL, lw=style.raw_lw, alpha=style.raw_alpha,
            label=style.raw_label)
    k = max(1, len(loss) // 50)
    if k > 1 or (style.mean_of_one and len(loss) >= 2):
        ax.plot(x[k - 1:], np.convolve(loss, np.ones(k) / k, "valid"), color=style.mean_color,
                lw=1.2, label=f"mean of {k}")
    ax.legend(loc="best")


def nfe_panel(ax: Any, x: np.ndarray, rows: Sequence[Mapping[str, float]],
              style: CurveStyle) -> None:
    """NFE-F and NFE-B per iteration at ``x`` from the loop's per-step ``rows``."""
    nfe_forward = np.array([r["nfe_forward"] for r in rows], dtype=float)
    nfe_backward = np.array([r["nfe_backward"] for r in rows], dtype=float)
    if style.note_no_solver and not nfe_forward.any():
        ax.text(0.5, 0.5, "no ODE solver\n(NFE = 0)", ha="center", va="center",
                transform=ax.transAxes)
        return
    for nfe, color, label in zip((nfe_forward, nfe_backward), style.nfe_colors,
                                 style.nfe_labels, strict=True):
        ax.plot(x, nfe, color=color, lw=0.8, label=label)
    ax.legend(loc="best")
