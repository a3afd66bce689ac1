"""One figure style for every stage: labelled axes, readable at report width.

matplotlib (about 0.5 s to import, PIL with it) loads on the first figure, not when a
figure module is imported: a figure stage checks its params, inputs and saved models
before it pays for plotting (tests/test_imports.py keeps it so).
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ..io import write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 110, "font.size": 10, "axes.titlesize": 11,
    "axes.labelsize": 10, "legend.fontsize": 9, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "figure.autolayout": True,
}
TRUE, MODEL, OBS = "#222222", "#d62728", "#1f77b4"  # ground truth, our model, data


@cache
def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the Agg backend (files only, no display), imported on
    the first call."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(ncols: int = 1, nrows: int = 1, width: float = 4.2, height: float = 3.6
           ) -> tuple[Figure, object]:
    plt = pyplot()
    plt.rcParams.update(STYLE)
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)


def save(fig: Figure, path: str | Path) -> bytes:
    """Write a PNG atomically (no timestamps in the file), close the figure and return
    the PNG's bytes (inside :func:`~neuralode_repro.staging.staged`, the file appears only
    when the stage succeeds)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    pyplot().close(fig)
    write_bytes(path, buf.getvalue())
    return buf.getvalue()
