"""The report's first figure: the paper's value against ours, with the interval over
seeds, for every quantitative claim (one panel per table of the paper), coloured by
verdict, so the summary shows before it tells."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..figures.style import figure, save
from .common import Claim
from .stats import interval

COLOURS = {"reproduced": "#2ca02c", "not reproduced": "#d62728",
           "inconclusive at this profile": "#7f7f7f",
           "not converged at this profile": "#ff7f0e",
           "reproduced as originally counted": "#1f77b4",
           "smoke run: no verdict": "#c7c7c7"}


def drawable(claims: Sequence[Claim]) -> list[Claim]:
    """The claims with a panel, a paper value and at least one value of ours."""
    return [c for c in claims if c.panel and c.values and math.isfinite(c.paper)]


def draw(claims: Sequence[Claim], path: Path) -> bytes | None:
    """One panel per table: a row per claim (and per value in its ``also``), the
    paper's value (black cross) and our mean with its interval
    (:func:`~neuralode_repro.report.stats.interval`), in the colour of the verdict.
    Writes ``path`` and returns its PNG bytes; None (and no file) without any such
    claim."""
    shown = drawable(claims)
    if not shown:
        return None
    panels: dict[str, list[tuple[str, tuple[float, ...], Claim]]] = {}
    for c in shown:  # a row per claim, and one per value it shows `also`
        for label, values in ((c.label or c.claim, c.values), *c.also):
            panels.setdefault(c.panel, []).append((label, values, c))
    rows = max(len(v) for v in panels.values())
    fig, axes = figure(ncols=len(panels), width=4.4, height=0.9 + 0.42 * rows)
    for ax, (title, group) in zip(axes[0], panels.items(), strict=True):
        for y, (_, values, c) in enumerate(reversed(group)):
            iv = interval(values)
            colour = COLOURS.get(c.verdict, "#7f7f7f")
            ax.errorbar([iv.mean], [y], xerr=[[iv.mean - iv.lo], [iv.hi - iv.mean]],
                        fmt="o", color=colour, capsize=3)
            ax.plot([c.paper], [y], "x", color="#222222", markersize=8)
        ax.set_yticks(range(len(group)), [label for label, _, _ in reversed(group)])
        ax.set_ylim(-0.7, len(group) - 0.3)
        ax.set_title(title)
    handles = [axes[0][0].plot([], [], "x", color="#222222", label="paper")[0]]
    used = dict.fromkeys(c.verdict for c in shown)
    handles += [axes[0][0].plot([], [], "o", color=COLOURS.get(v, "#7f7f7f"),
                                label=f"ours: {v}")[0] for v in used]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3),
               frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.set_layout_engine("tight", rect=(0, 0.12, 1, 1))
    return save(fig, path)
