"""Trained models as DVC outputs (``data/models/...``, cached, so ``dvc pull`` brings
them back): one file per model with its weights, the config that rebuilds it and
where it came from, so that evaluation and figure stages never retrain.

The file is a ``torch.save`` of plain values (loadable with ``weights_only=True``):
``{"format", "config", "state_dict", "meta"}``. ``meta["mlflow_run_id"]`` is the
training run's MLflow id (empty when tracking was off): an evaluation run tags itself
with it, which links a model's test metrics to its training curves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from .io import atomic_path

FORMAT = 1
M = TypeVar("M", bound=nn.Module)


def save_model(path: str | Path, model: nn.Module, config: Mapping[str, Any], *,
               meta: Mapping[str, Any] | None = None) -> None:
    """Write ``model``'s weights with the plain-value ``config`` it is rebuilt from."""
    state = {"format": FORMAT, "config": dict(config), "meta": dict(meta or {}),
             "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_model(path: str | Path) -> dict[str, Any]:
    """The saved dict; a missing or unreadable file says which stage writes it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `dvc repro` (or `dvc pull`) so "
                                "the training stage that writes it runs first")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file: one clear error
        raise OSError(f"{path} is not a readable model file ({type(err).__name__}); "
                      "retrain it with `dvc repro -f <its train stage>`") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise OSError(f"{path} is not a model file of this project (format "
                      f"{state.get('format') if isinstance(state, dict) else None!r}, "
                      f"expected {FORMAT}); retrain it with `dvc repro -f`")
    return state


def load_model(path: str | Path, build: Callable[[dict[str, Any]], M],
               device: torch.device | None = None) -> tuple[M, dict[str, Any], dict[str, Any]]:
    """(model in eval mode, its config, its meta): ``build(config)`` makes the module,
    then the saved weights are loaded into it exactly."""
    state = read_model(path)
    model = build(state["config"])
    model.load_state_dict(state["state_dict"])
    return model.to(device or torch.device("cpu")).eval(), state["config"], state["meta"]
