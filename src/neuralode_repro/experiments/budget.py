"""The budget axis of a training run, scored after training: each weight snapshot
(:mod:`neuralode_repro.snapshots`) loaded in turn into the saved model, so an
evaluation stage scores it on held-out data that training never read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch import nn


def each_snapshot(model: nn.Module, snapshots: dict[str, Any]) -> Iterator[tuple[int, float]]:
    """Load each snapshot of ``snapshots`` (:func:`~neuralode_repro.snapshots.read_snapshots`)
    into ``model`` in step order and yield (step, training seconds so far); the model's
    own weights are back when the loop ends, however it ends."""
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        for step, secs, weights in zip(snapshots["steps"], snapshots["times_s"],
                                       snapshots["states"], strict=True):
            model.load_state_dict(weights)
            yield int(step), float(secs)
    finally:
        model.load_state_dict(saved)
