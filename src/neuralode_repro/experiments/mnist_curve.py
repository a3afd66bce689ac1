"""The MNIST learning curve: test error against epochs, where the paper's 160 epochs are
out of reach, so a reader sees how far each model is from its Table 1 value and how
fast it is closing.

Training keeps ``points`` weight snapshots at equal fractions of the run
(:class:`~neuralode_repro.snapshots.Snapshots`; they survive a resumed run through a
side file beside the checkpoint); evaluate_mnist scores each on the same
``test_subset`` test images (a fixed seed-0 subset; :func:`evaluate_curve`), so the
points of every model and seed are paired.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import num


@dataclasses.dataclass(frozen=True)
class CurveConfig:
    """``train_mnist.curve``: ``points`` snapshots over the whole run (training; 0: no
    curve) and the ``test_subset`` test images each is scored on (evaluation)."""

    points: int = num(8, ge=0)
    test_subset: int = num(1000, ge=1)


def side_file(checkpoint: Path) -> Path:
    """``<checkpoint>.curve``: not ``*.pt``, so no checkpoint clean-up ever takes it."""
    return checkpoint.with_name(checkpoint.name + ".curve")


@torch.no_grad()
def evaluate_curve(model: nn.Module, run_config: dict[str, Any], snapshots: dict[str, Any],
                   cfg: CurveConfig, data_root: Path) -> list[dict[str, float]]:
    """Test error (%) of each snapshot of ``model`` (a saved model, whose file's config
    is ``run_config``) on a fixed (seed 0) subset of ``cfg.test_subset`` test images,
    with the model's own preprocessing: rows of step, epoch and test_error."""
    from ..config import parse
    from ..data.mnist import MnistDataConfig, mnist_loaders
    from ..models.mnist import evaluate

    data = parse(MnistDataConfig, run_config["data"], "the model file's config.data")
    # one fixed subset (seed 0) for every model and seed: the curves are paired
    data = dataclasses.replace(data, test_subset=cfg.test_subset)
    _, loader = mnist_loaders(data_root, data, seed=0)
    net = copy.deepcopy(model)
    rows = []
    for step, epoch, weights in zip(snapshots["steps"], snapshots["epochs"],
                                    snapshots["states"], strict=True):
        net.load_state_dict(weights)
        rows.append({"step": int(step), "epoch": float(epoch),
                     "test_error": evaluate(net.eval(), loader)})
    return rows
