"""MNIST classifiers of paper sec. 3 / Table 1 (ODE-Net, RK-Net, ResNet, MLP): one
training run per model x seed, with its test error, parameter count, peak step memory,
time per epoch and NFE, plus the per-iteration log that Figure 3 (c, d) is drawn from.

A run resumes from a per-epoch checkpoint named by a hash of everything that decides
its first epochs (config, code, torch version), so a killed run continues and a
changed config or code starts over; the stage deletes the checkpoint once the run's
outputs are published, so a finished run is never resumed (``dvc repro -f`` retrains).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from neuralode import collect_stats

from .. import artifacts, distributed, runs
from ..artifacts import IDENTITY, save_model
from ..codedeps import code_hash, import_closure
from ..config import SEED_MAX, ConfigError, check_seeds, num, parse
from ..data.mnist import MnistDataConfig, mnist_loaders
from ..io import write_csv, write_json
from ..memory import peak_step_memory_mb
from ..models.mnist import MnistModelConfig, build_model, count_parameters, evaluate, loss_fn
from ..runtime import describe
from ..snapshots import Snapshots, snapshot_steps
from ..tracking import Tracker
from ..training import OptimConfig, fit, read_checkpoint, seed_everything, summarize
from .mnist_curve import CurveConfig, side_file

LOG_COLUMNS = ("step", "epoch", "loss", "nfe_forward", "nfe_backward", "lr", "accuracy", "time")


@dataclasses.dataclass(frozen=True)
class MnistTrainConfig:
    """``train_mnist``: Table 1's models (``models``: name -> model) trained alike.

    ``data``, ``optim``, ``epochs`` and ``steps_per_epoch`` (a cap on iterations per
    epoch, None: one pass over the training set) are shared by every model; ``seeds``
    is the list DVC's ``matrix`` expands; ``memory_batch`` is the batch of the peak
    memory measurement (Table 1's "Memory" column); ``nproc`` is the number of
    data-parallel processes (``torchrun``, DDP) that share each batch; ``curve`` the
    learning curve's snapshots (:mod:`~neuralode_repro.experiments.mnist_curve`).
    """

    models: dict[str, MnistModelConfig]
    seeds: tuple[int, ...] = num((0,), ge=0, le=SEED_MAX)
    data: MnistDataConfig = MnistDataConfig()
    optim: OptimConfig = OptimConfig(name="sgd", lr=0.1, momentum=0.9, schedule="onecycle")
    epochs: int = num(2, ge=1)
    steps_per_epoch: int | None = num(None, gt=0)
    memory_batch: int = num(128, gt=0)
    nproc: int = num(1, ge=1)
    curve: CurveConfig = CurveConfig()

    def validate(self) -> None:
        check_seeds(self.seeds)


def model_config(cfg: MnistTrainConfig, name: str) -> MnistModelConfig:
    """The entry ``name`` of ``train_mnist.models``; an unknown name lists the valid ones."""
    if name not in cfg.models:
        raise ConfigError(f"train_mnist.models: no model {name!r}; "
                          f"defined: {', '.join(cfg.models)}")
    return cfg.models[name]


def resolved_config(cfg: MnistTrainConfig, name: str, seed: int) -> dict[str, Any]:
    """What one run uses (logged to MLflow): the shared settings, its model, its seed."""
    out = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("models", "seeds")}
    return {**out, "model_name": name, "model": dataclasses.asdict(model_config(cfg, name)),
            "seed": seed}


def config_hash(cfg: MnistTrainConfig, name: str, seed: int) -> str:
    """Hash of what decides the first k epochs of a run: its config, the code that
    trains it (the import closure of this module) and the torch version. ``epochs``
    counts only when the schedule spans the whole run (onecycle, cosine); with constant
    or multistep schedules an interrupted run may be resumed with more epochs."""
    key = resolved_config(cfg, name, seed)
    key.pop("memory_batch")
    key["curve"].pop("test_subset")  # evaluation only
    if cfg.optim.schedule in ("constant", "multistep"):
        key.pop("epochs")
    key["_code"], key["_torch"] = _code_hash(), torch.__version__
    blob = json.dumps(key, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@functools.cache
def _code_hash() -> str:
    return code_hash(import_closure(Path(__file__)))


def checkpoint_for(folder: Path, cfg: MnistTrainConfig, name: str, seed: int
                   ) -> tuple[Path, list[Path]]:
    """``folder/<name>-s<seed>-<hash>.pt``, and this run's checkpoints under other
    hashes (older code or config): the new run deletes those once it has saved its
    own, so a run that fails at once never costs the previous setup's progress."""
    stem = runs.run("mnist", model=name, seed=seed).stem
    path = folder / f"{stem}-{config_hash(cfg, name, seed)}.pt"
    others = [p for p in folder.glob(f"{stem}-*.pt") if p != path]
    return path, sorted(others)


def _reseeding_batches(loader: torch.utils.data.DataLoader, seed: int):
    """Each epoch's shuffle is seeded by (seed, epoch), so a resumed run draws the same
    batches as an uninterrupted one (the loader's generator is otherwise not saved).

    Under DDP every process draws the same global batch and keeps its slice
    ``rank::world``: DDP's gradient average is then that of the whole batch."""
    world, rank = distributed.world_size(), distributed.rank()

    def batches(epoch: int):
        loader.generator.manual_seed(seed * 100_003 + epoch)
        if world == 1:
            return loader
        return ((x[rank::world], y[rank::world]) for x, y in loader)
    return batches


def _epoch_of(steps: int, steps_per_epoch: int) -> list[int]:
    return [i // steps_per_epoch + 1 for i in range(steps)]


def train(name: str, cfg: MnistTrainConfig, *, seed: int, data_root: Path, tracker: Tracker,
          weights: Path, log: Path, summary: Path, snapshots: Path, checkpoint_dir: Path,
          device: torch.device | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Train model ``name`` with ``seed``; write its model file (weights + resolved
    config), its per-iteration log (``LOG_COLUMNS``), its training summary and the
    learning curve's weight snapshots (``train_mnist.curve.points``); the model file
    records the run's identity (:meth:`~neuralode_repro.runs.Run.identity`), the summary
    its ``model`` and ``seed``. No test data is read: the evaluate_mnist stage scores the
    saved model. Returns (model, summary); under DDP, ranks other than 0 write nothing."""
    device = device or torch.device("cpu")
    model_cfg = model_config(cfg, name)
    run = runs.run("mnist", model=name, seed=seed)
    seed_everything(seed)
    model = build_model(model_cfg).to(device)
    train_loader, _ = mnist_loaders(data_root, cfg.data, seed=seed)
    steps = min(len(train_loader), cfg.steps_per_epoch or math.inf)
    ckpt, older = checkpoint_for(checkpoint_dir, cfg, name, seed)
    resumed = _resume_logs(ckpt, tracker, run.stage(), cfg.epochs)
    curve = Snapshots(snapshot_steps(cfg.epochs * steps, cfg.curve.points)
                      if cfg.curve.points else [], side_file(ckpt), resumed * steps)
    last = [time.perf_counter()]
    epoch_rows: list[dict[str, float]] = []

    def on_step(step: int, row: dict[str, float]) -> None:
        now = time.perf_counter()
        # ``row`` is the record fit() keeps in its history (and checkpoint), so the
        # iteration time survives a resume
        row["time"], last[0] = now - last[0], now
        epoch_rows.append(row)
        curve.on_step(step, model)
        tracker.log_metrics({k: row[k] for k in LOG_COLUMNS[2:]}, step)

    def on_epoch(epoch: int, record: dict[str, float]) -> None:
        means = {f"epoch_{k}_mean": float(np.mean([r[k] for r in epoch_rows]))
                 for k in ("nfe_forward", "nfe_backward", "loss", "accuracy")}
        # "epoch/" keeps these apart from the run's summary metrics
        tracker.log_metrics({f"epoch/{k}": v for k, v in {**record, **means}.items()
                             if k != "epoch"}, epoch)
        if distributed.is_main():
            print(f"{run.stage()} epoch {epoch}: training accuracy "
                  f"{100 * means['epoch_accuracy_mean']:.2f}%, {record['epoch_time_s']:.0f} s, "
                  f"NFE-F {means['epoch_nfe_forward_mean']:.1f}")
        epoch_rows.clear()
        curve.on_epoch()
        last[0] = time.perf_counter()

    history = fit(model, loss_fn, _reseeding_batches(train_loader, seed), optim=cfg.optim,
                  epochs=cfg.epochs, steps_per_epoch=steps, on_step=on_step,
                  on_epoch=on_epoch, checkpoint=ckpt, replaces=older,
                  desc=run.stage())
    facts: dict[str, Any] = {
        "model": name, "kind": model_cfg.kind, "seed": seed, "epochs": cfg.epochs,
        "steps_per_epoch": steps, "batch_size": cfg.data.batch_size,
        "n_params": count_parameters(model),
        "epoch_time_s": float(np.mean([e["epoch_time_s"] for e in history.epochs])),
        **summarize(history.steps), "runtime": describe(device)}
    if not distributed.is_main():  # rank 0 writes the outputs
        return model, facts
    save_model(weights, model, resolved_config(cfg, name, seed),
               meta={"mlflow_run_id": tracker.run_id or "", "run": run.stem,
                     IDENTITY: dict(run.identity(data_root).keys)})
    epoch = _epoch_of(len(history.steps), steps)
    write_csv(log, [{"step": i + 1, "epoch": epoch[i], **row}
                    for i, row in enumerate(history.steps)], LOG_COLUMNS)
    write_json(summary, facts)
    curve.save(snapshots, steps)
    # not in the summary file: same params, same file, however often a run was killed
    return model, {**facts, "resumed_from_epoch": resumed}


def evaluate_saved(saved: SavedModel, cfg: MnistTrainConfig, *, data_root: Path
                   ) -> dict[str, Any]:
    """Table 1's held-out numbers of a saved model: test error (%), forward NFE per
    test batch, the test pass's time, and the peak memory of one training step on
    ``memory_batch`` fixed training images (the "Memory" column; measured on a copy,
    so that its train-mode step moves no BatchNorm statistics of ``saved.model``)."""
    model, run_cfg = saved.model, saved.config
    device = next(model.parameters()).device
    data = parse(MnistDataConfig, run_cfg["data"], "the model file's config.data")
    # the model's own preprocessing; the test set's size and batch are this stage's
    data = dataclasses.replace(data, test_subset=cfg.data.test_subset,
                               test_batch_size=cfg.data.test_batch_size)
    train_loader, test_loader = mnist_loaders(data_root, data, seed=run_cfg["seed"])
    t0 = time.perf_counter()
    with collect_stats() as stats:
        error = evaluate(model, test_loader)
    metrics: dict[str, Any] = {
        "test_error": error, "eval_time_s": time.perf_counter() - t0,
        "test_nfe_forward": stats.nfe_forward / len(test_loader),
        "test_images": len(test_loader.dataset)}  # type: ignore[arg-type]
    images = _first_images(train_loader, cfg.memory_batch, device)
    metrics["peak_memory_mb"] = peak_step_memory_mb(copy.deepcopy(model).train(), images,
                                                    loss_fn)
    metrics["memory_batch"] = cfg.memory_batch
    return metrics


def _resume_logs(ckpt: Path, tracker: Tracker, stage: str, epochs: int) -> int:
    """The epoch a run resumes from (0: fresh). The resumed iterations are logged to
    this MLflow run too, so its curves are complete."""
    state = read_checkpoint(ckpt)
    if state is None or state["epoch"] > epochs:
        return 0
    for step, row in enumerate(state["history_steps"], start=1):
        tracker.log_metrics(row, step)
    print(f"{stage}: resuming from {ckpt} at epoch {state['epoch']}")
    return int(state["epoch"])


def _first_images(loader: torch.utils.data.DataLoader, n: int, device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` training images (fewer if the set is smaller): a fixed batch."""
    ds = loader.dataset
    items = [ds[i] for i in range(min(n, len(ds)))]  # type: ignore[arg-type]
    x = torch.stack([img for img, _ in items]).to(device)  # (n, 1, 28, 28)
    y = torch.tensor([label for _, label in items], device=device)  # (n,)
    return x, y


class SavedModel(NamedTuple):
    """A model file of :func:`train`, read once: the module (eval mode), its model
    config, the run's resolved config (e.g. ``["data"]["normalize"]``) and its meta
    (``mlflow_run_id``: the training run an evaluation links to; ``identity``)."""

    model: nn.Module
    model_cfg: MnistModelConfig
    config: dict[str, Any]
    meta: dict[str, Any]


def load_model(path: Path, device: torch.device | None = None, *,
               expected: runs.RunIdentity | None = None) -> SavedModel:
    """Read a model written by :func:`train` (see :class:`SavedModel`); with
    ``expected``, only the model of that run (:func:`~neuralode_repro.artifacts.check_identity`)."""
    model, config, meta = artifacts.load_model(path, lambda c: build_model(
        parse(MnistModelConfig, c["model"], f"{Path(path).name}:config.model")), device,
        expected=expected)
    return SavedModel(model, parse(MnistModelConfig, config["model"]), config, meta)
