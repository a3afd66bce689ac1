"""Trained models as DVC outputs (``data/models/...``, cached, so ``dvc pull`` brings
them back): one file per model with its weights, the config that rebuilds it and
where it came from, so that evaluation and figure stages never retrain.

The file is a ``torch.save`` of plain values (loadable with ``weights_only=True``):
``{"format", "config", "state_dict", "meta"}``. ``meta["mlflow_run_id"]`` is the
training run's MLflow id (empty when tracking was off): an evaluation run tags itself
with it, which links a model's test metrics to its training curves.
``meta["identity"]`` names the training run (:class:`~.runs.RunIdentity`): a stage that
reads the file for one run checks it against its command line
(:func:`check_identity`, :func:`read_summary`) before it writes anything, so a
mistyped path never scores, or draws, another run's model under this run's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from .io import atomic_path, read_json
from .runs import RunIdentity

FORMAT = 1
IDENTITY = "identity"  # the meta key of a model file's RunIdentity.keys
# What only the model file records of a run's identity: a training summary records each
# other key at its top level, as config (metrics.CONFIG_KEYS), which no metrics file repeats
FILE_ONLY = ("experiment", "data")
M = TypeVar("M", bound=nn.Module)


def check_identity(path: str | Path, meta: Mapping[str, Any], expected: RunIdentity) -> None:
    """Raise unless the model file ``path`` (its ``meta``) is of the run ``expected``
    names: every key of ``expected.keys`` equal. A file without an identity (older
    code wrote it) says to retrain, like a mismatch, in one line."""
    _check(path, meta.get(IDENTITY), dict(expected.keys), "model file", expected.stage)


def read_summary(path: str | Path, expected: RunIdentity) -> dict[str, Any]:
    """The training summary ``path`` (``*_train.json``), checked like a model file
    (:func:`check_identity`) on the keys it records: all but :data:`FILE_ONLY`."""
    summary = read_json(path)
    if not isinstance(summary, dict):
        raise ValueError(f"{path} is not a training summary (a JSON object); rerun its "
                         f"training stage: dvc repro -f {expected.stage}")
    want = {k: v for k, v in expected.keys.items() if k not in FILE_ONLY}
    _check(path, summary, want, "training summary", expected.stage)
    return summary


def _check(path: str | Path, found: Any, want: dict[str, Any], what: str, stage: str) -> None:
    if not isinstance(found, Mapping) or any(k not in found for k in want):
        raise ValueError(f"{path} records no run identity ({', '.join(want)}): older code "
                         f"wrote it, so it cannot be checked against the run the command "
                         f"line asks for ({_describe(want)}); retrain it: dvc repro -f {stage}")
    if any(found[k] != v for k, v in want.items()):
        raise ValueError(f"{path} is the {what} of {_describe({k: found[k] for k in want})}, "
                         f"but the command line asks for {_describe(want)}; pass the files of "
                         f"that run (as dvc.yaml's cmd does), or retrain it: dvc repro {stage}")


def _describe(keys: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in keys.items())


def save_model(path: str | Path, model: nn.Module, config: Mapping[str, Any], *,
               meta: Mapping[str, Any] | None = None) -> None:
    """Write ``model``'s weights with the plain-value ``config`` it is rebuilt from and
    ``meta`` (a training stage's: ``mlflow_run_id`` and :data:`IDENTITY`)."""
    state = {"format": FORMAT, "config": dict(config), "meta": dict(meta or {}),
             "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_model(path: str | Path, expected: RunIdentity | None = None) -> dict[str, Any]:
    """The saved dict; a missing or unreadable file says which stage writes it. With
    ``expected``, a file of another run is an error (:func:`check_identity`)."""
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
    if expected is not None:
        check_identity(path, state["meta"], expected)
    return state


def load_model(path: str | Path, build: Callable[[dict[str, Any]], M],
               device: torch.device | None = None, *, expected: RunIdentity | None = None
               ) -> tuple[M, dict[str, Any], dict[str, Any]]:
    """(model in eval mode, its config, its meta): ``build(config)`` makes the module,
    then the saved weights are loaded into it exactly. With ``expected`` (a stage that
    reads the model of one run), the file must be that run's (:func:`check_identity`),
    checked before anything is built."""
    state = read_model(path, expected)
    model = build(state["config"])
    model.load_state_dict(state["state_dict"])
    return model.to(device or torch.device("cpu")).eval(), state["config"], state["meta"]
