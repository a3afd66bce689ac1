"""The budget axis of a training run: weight snapshots kept while it trains
(:func:`fit_with_budget`), scored after training by its evaluation stage on held-out
data that training never read: each snapshot (:mod:`neuralode_repro.snapshots`) loaded
in turn into the saved model, or (toy) the trajectories the training GIF kept."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from torch import nn

from ..snapshots import Snapshots, snapshot_steps
from ..tracking import Tracker
from ..training import History, OptimConfig, fit


def fit_with_budget(model: nn.Module, loss_fn: Callable, batches: Callable, *,
                    optim: OptimConfig, steps: int, points: int, tracker: Tracker, desc: str
                    ) -> tuple[History, Snapshots, float]:
    """One pass of ``steps`` optimizer steps (:func:`~neuralode_repro.training.fit`)
    that logs each step's row to ``tracker`` and keeps the weights at the ``points``
    snapshot steps of the budget axis (none if 0); returns (history, snapshots,
    training seconds)."""
    budget = Snapshots(snapshot_steps(steps, points) if points else [])
    start = time.perf_counter()

    def on_step(step: int, row: dict[str, float]) -> None:
        tracker.log_metrics(row, step)
        budget.on_step(step, model, time.perf_counter() - start)

    history = fit(model, loss_fn, batches, optim=optim, epochs=1, steps_per_epoch=steps,
                  desc=desc, on_step=on_step)
    return history, budget, time.perf_counter() - start


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


def toy_frames(frames: dict[str, np.ndarray], data: dict[str, np.ndarray]
               ) -> list[dict[str, float]]:
    """A toy fit's budget axis, from its training GIF's frames (train_toy keeps the
    trajectory from the true z0 at the observed times every few steps, of the restart
    it kept): the trajectory MSE against the noise-free truth per frame, as
    :func:`~neuralode_repro.experiments.toy.evaluate`'s ``traj_mse``. No retraining."""
    traj = frames["trajectories"]  # (S, N, 2)
    mse = np.mean((traj - data["true"][None]) ** 2, axis=(1, 2))  # (S,)
    return [{"step": int(s), "traj_mse": float(v)}
            for s, v in zip(frames["steps"], mse, strict=True)]
