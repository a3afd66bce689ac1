"""The layout of a DVC metrics file: results at the top, nested by meaning.

``dvc metrics show`` and ``dvc exp show`` put every key of every metrics file in a
column, so a metrics file holds what a run measured and nothing it was told:

- results at the top level (test error, NFE, losses, counts the data decided);
- ``timing``: the wall-clock seconds (``*_time_s``, ``time_per_*``), which differ from
  machine to machine while the results agree bit for bit;
- ``runtime``: the machine (:func:`neuralode_repro.runtime.describe`).

Config values (seed, epochs, batch size, solver...) are not repeated: params.yaml holds
them, and each training stage's summary (``*_train.json``, a DVC output, not a metric;
:meth:`neuralode_repro.runs.Run.path` ``summary``) records what its run was configured with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# values a run is configured with, as the training summaries name them
CONFIG_KEYS = frozenset({
    "adjoint", "batch_size", "device", "epochs", "iterations", "kind", "memory_batch",
    "method", "model", "model_class", "n_obs", "noise_std", "reference_tol", "restarts",
    "rollout", "seed", "seeds", "steps", "target", "task", "test_subset", "time_input",
    "width", "widths",
})
TIMING = "timing"
RUNTIME = "runtime"


def is_timing(key: str) -> bool:
    """Wall-clock seconds: ``epoch_time_s``, ``train_time_s``, ``time_per_iteration_s``..."""
    return key.endswith("_time_s") or key.startswith("time_per_")


def compose(*parts: Mapping[str, Any]) -> dict[str, Any]:
    """One metrics file from a run's summary and scores (later parts win): config
    values dropped, wall-clock seconds moved under ``timing``, ``runtime`` kept last."""
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    out: dict[str, Any] = {}
    timing: dict[str, Any] = dict(merged.pop(TIMING, {}))
    runtime = merged.pop(RUNTIME, None)
    for key, value in merged.items():
        if key in CONFIG_KEYS:
            continue
        if is_timing(key):
            timing[key] = value
        else:
            out[key] = value
    if timing:
        out[TIMING] = timing
    if runtime is not None:
        out[RUNTIME] = runtime
    return out


def flatten(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The reader's view of :func:`compose`'s layout: timings back at the top level."""
    out = {k: v for k, v in metrics.items() if k != TIMING}
    out.update(metrics.get(TIMING, {}))
    return out
