"""Weight snapshots at equal fractions of a training run: the points of a learning
curve (MNIST) or of a budget axis (CNF), scored afterwards by an evaluation stage, so
that training never reads test data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .producers import stage_hint, unreadable
from .staging import atomic_path, unstaged

FORMAT = 1


def snapshot_steps(total: int, points: int) -> list[int]:
    """The global steps (1-based) after which a snapshot is kept: ``points`` equal
    fractions of ``total`` steps, the last one the final model (none for 0 points)."""
    if total < 1:
        raise ValueError(f"a run needs >= 1 step, got {total}")
    return sorted({max(1, round(total * k / points)) for k in range(1, points + 1)})


class Snapshots:
    """Weight snapshots of one run at ``steps``, each with the training time so far if
    given; ``side`` (beside a resume checkpoint) holds those of finished epochs, so a
    resumed run keeps them."""

    def __init__(self, steps: list[int], side: Path | None = None, resumed_steps: int = 0):
        self.steps, self.side = set(steps), side
        self.states: dict[int, dict[str, torch.Tensor]] = {}
        self.times: dict[int, float] = {}
        if resumed_steps and side is not None and side.exists():
            saved = _load(side, "snapshots side file of a resume checkpoint",
                          "delete it and the checkpoint beside it to train from the start")
            self.states = {int(s): v for s, v in saved.items()  # this schedule's, done
                           if int(s) <= resumed_steps and int(s) in self.steps}

    def on_step(self, step: int, model: nn.Module, elapsed_s: float | None = None) -> None:
        if step in self.steps:
            self.states[step] = {k: v.detach().cpu().clone()
                                 for k, v in model.state_dict().items()}
            if elapsed_s is not None:
                self.times[step] = elapsed_s

    def on_epoch(self) -> None:
        """Keep the snapshots so far beside the checkpoint (not a stage output)."""
        if self.side is not None:
            with unstaged(), atomic_path(self.side) as tmp:  # like the checkpoint
                torch.save(self.states, tmp)

    def save(self, path: Path, steps_per_epoch: int) -> None:
        """The stage output: steps, fractional epochs, training times (where recorded)
        and the weights, in step order."""
        steps = sorted(self.states)
        with atomic_path(path) as tmp:
            torch.save({"format": FORMAT, "steps": steps,
                        "epochs": [s / steps_per_epoch for s in steps],
                        "times_s": [self.times[s] for s in steps if s in self.times],
                        "states": [self.states[s] for s in steps]}, tmp)


def read_snapshots(path: Path) -> dict[str, Any]:
    """A snapshots file of a training stage; a missing or foreign file says what to rerun."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `dvc repro` so its training stage "
                                "writes it first")
    state = _load(path, "snapshots file")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise OSError(f"{path} is not a snapshots file of this project; "
                      f"{stage_hint(path)}")
    return state


def _load(path: Path, what: str, fix: str | None = None) -> Any:
    """``torch.load`` of plain values; an unreadable file is one line naming it and
    ``fix`` (by default: rerun the stage that writes it)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises a different type per corruption
        why = (err.strerror if isinstance(err, OSError) and err.strerror
               else "truncated, or not written by torch.save")
        raise OSError(unreadable(path, what, why, fix)) from None
