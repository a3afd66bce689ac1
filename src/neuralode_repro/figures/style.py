"""One figure style for every stage: labelled axes, readable at report width."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import write_bytes  # noqa: E402

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 110, "font.size": 10, "axes.titlesize": 11,
    "axes.labelsize": 10, "legend.fontsize": 9, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "figure.autolayout": True,
}
TRUE, MODEL, OBS = "#222222", "#d62728", "#1f77b4"  # ground truth, our model, data


def figure(ncols: int = 1, nrows: int = 1, width: float = 4.2, height: float = 3.6
           ) -> tuple[plt.Figure, object]:
    plt.rcParams.update(STYLE)
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)


def save(fig: plt.Figure, path: str | Path) -> None:
    """Write a PNG atomically (no timestamps in the file) and close the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    write_bytes(path, buf.getvalue())
