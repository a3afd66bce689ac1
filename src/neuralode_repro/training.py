"""The one training loop, shared by every model: batches, optimizer, schedule,
NFE bookkeeping, progress bar, checkpoint/resume and metric callbacks.

A model never owns a loop; it provides ``loss_fn(model, batch) -> (loss, logs)``.
Per iteration the loop records the loss, the model's logs and the solver's NFE-F and
NFE-B (paper Fig. 3), read through :func:`neuralode.collect_stats`.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from neuralode import collect_stats

from . import distributed
from .config import ConfigError, num
from .staging import atomic_path, unstaged

LossFn = Callable[[nn.Module, Any], tuple[Tensor, dict[str, float]]]
StepHook = Callable[[int, dict[str, float]], None]


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """Optimizer and learning-rate schedule.

    ``milestones`` are epochs (``multistep``: lr *= gamma at each). ``onecycle`` and
    ``cosine`` span the whole run.
    """

    name: Literal["adam", "sgd", "rmsprop"] = "adam"
    lr: float = num(1e-3, gt=0)
    momentum: float = num(0.0, ge=0, lt=1)
    weight_decay: float = num(0.0, ge=0)
    schedule: Literal["constant", "multistep", "onecycle", "cosine"] = "constant"
    milestones: tuple[int, ...] = num((), ge=1)
    gamma: float = num(0.1, gt=0, le=1)

    def validate(self) -> None:
        """Settings the chosen optimizer or schedule would ignore are errors, not no-ops."""
        if self.name == "adam" and self.momentum != 0:
            raise ValueError(f"momentum={self.momentum} is ignored by adam (its betas play "
                             "that role); remove it or use sgd or rmsprop")
        if self.schedule != "multistep" and (self.milestones or self.gamma != 0.1):
            raise ValueError(f"milestones/gamma apply to schedule 'multistep' only, not "
                             f"{self.schedule!r}; remove them or set schedule: multistep")
        if self.schedule == "multistep" and list(self.milestones) != sorted(set(self.milestones)):
            raise ValueError(f"milestones must be increasing epochs, got {list(self.milestones)}")


def build_optimizer(params: Iterable[nn.Parameter], cfg: OptimConfig, *, epochs: int,
                    steps_per_epoch: int
                    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Optimizer plus a per-iteration scheduler."""
    params = list(params)
    if cfg.name == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=cfg.lr,
                                                      weight_decay=cfg.weight_decay)
    elif cfg.name == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum,
                                  weight_decay=cfg.weight_decay)
    total = epochs * steps_per_epoch
    if cfg.schedule == "multistep":
        steps = [m * steps_per_epoch for m in cfg.milestones]
        sched: Any = torch.optim.lr_scheduler.MultiStepLR(opt, steps, gamma=cfg.gamma)
    elif cfg.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total)
    elif cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (same seed, same CPU -> same metrics)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("common.device: 'cuda' requested but no CUDA GPU is available; "
                          "set common.device to 'auto' or 'cpu'")
    return torch.device(name)


@dataclasses.dataclass
class History:
    """What a run produced: one row per iteration and one per epoch."""

    steps: list[dict[str, float]] = dataclasses.field(default_factory=list)
    epochs: list[dict[str, float]] = dataclasses.field(default_factory=list)

    def mean(self, key: str) -> float:
        vals = [row[key] for row in self.steps if key in row]
        return float(np.mean(vals)) if vals else math.nan


def fit(model: nn.Module, loss_fn: LossFn, batches: Callable[[int], Iterable[Any]], *,
        optim: OptimConfig, epochs: int, steps_per_epoch: int,
        evaluate: Callable[[int], dict[str, float]] | None = None,
        on_step: StepHook | None = None, on_epoch: StepHook | None = None,
        checkpoint: Path | None = None, replaces: Iterable[Path] = (),
        desc: str = "train") -> History:
    """Train ``model`` for ``epochs`` x ``steps_per_epoch`` iterations.

    Args:
        batches: ``batches(epoch)`` yields that epoch's batches (a DataLoader or a
            generator); at most ``steps_per_epoch`` are used.
        evaluate: called after each epoch; its dict joins the epoch record.
        on_step: called with (global step, logs) after every iteration.
        on_epoch: called with (epoch, epoch record) after every epoch.
        checkpoint: file saved after every epoch; when it exists, training resumes
            from it (model, optimizer, schedule, RNG states, history). Name it by
            everything that decides the run (code and config), so that it only
            ever resumes the interrupted run of the same setup. An unreadable one is
            reported and training starts over.
        replaces: checkpoints of other setups, deleted only once this run has saved
            its own (a run that fails early never costs an older run's progress).

    Under ``torchrun`` (see :mod:`neuralode_repro.distributed`) the model is wrapped in DDP,
    each process feeds its own shard of batches, and only rank 0 shows progress and
    saves checkpoints.
    """
    opt, sched = build_optimizer(model.parameters(), optim, epochs=epochs,
                                 steps_per_epoch=steps_per_epoch)
    history, start = History(), 0
    state = read_checkpoint(checkpoint) if checkpoint is not None else None
    if state is not None and state["epoch"] <= epochs:  # trained further: start over
        start = _restore(state, model, opt, sched, history)
    net = distributed.wrap(model)
    main = distributed.is_main()
    bar = tqdm(total=epochs * steps_per_epoch, initial=start * steps_per_epoch, desc=desc,
               dynamic_ncols=True, mininterval=1.0, disable=not main)
    for epoch in range(start, epochs):
        model.train()
        t_epoch = time.perf_counter()
        for i, batch in enumerate(batches(epoch)):
            if i >= steps_per_epoch:
                break
            with collect_stats() as stats:
                loss, logs = loss_fn(net, batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch}, step {i}; "
                                         "lower the learning rate or tighten the solver")
            opt.step()
            sched.step()
            row = {"loss": loss.item(), **logs, "nfe_forward": stats.nfe_forward,
                   "nfe_backward": stats.nfe_backward, "lr": opt.param_groups[0]["lr"]}
            history.steps.append(row)
            step = epoch * steps_per_epoch + i + 1
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.4g}", nfe_f=stats.nfe_forward,
                            nfe_b=stats.nfe_backward, refresh=False)
            if on_step is not None:
                on_step(step, row)
        record = {"epoch": epoch + 1, "epoch_time_s": time.perf_counter() - t_epoch}
        if evaluate is not None:
            model.eval()
            record.update(evaluate(epoch))
        history.epochs.append(record)
        if on_epoch is not None:
            on_epoch(epoch + 1, record)
        if checkpoint is not None and main:
            _save_checkpoint(checkpoint, model, opt, sched, history, epoch + 1)
            for old in replaces:
                if old != checkpoint:
                    old.unlink(missing_ok=True)
            replaces = ()
    bar.close()
    return history


def _save_checkpoint(path: Path, model: nn.Module, opt: torch.optim.Optimizer, sched: Any,
                     history: History, epoch: int) -> None:
    state = {"epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "torch_rng": torch.get_rng_state(),
             "numpy_rng": _numpy_state(),
             "history_steps": history.steps, "history_epochs": history.epochs}
    with unstaged(), atomic_path(path) as tmp:  # outlives a failed stage, by design
        torch.save(state, tmp)


_CHECKPOINT_KEYS = ("epoch", "model", "optimizer", "scheduler", "torch_rng", "numpy_rng",
                    "history_steps", "history_epochs")


def read_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at ``path``; None when there is none or it is unreadable
    (truncated, garbage, another format): then it is reported, deleted, and the run
    starts over instead of failing on every rerun."""
    if not path.exists():
        return None
    if path.is_dir():  # never deleted for the user: it may hold anything
        raise OSError(f"checkpoint {path} is a folder; move it away or remove it, then rerun")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        ours = isinstance(state, dict) and all(k in state for k in _CHECKPOINT_KEYS)
        why = "" if ours else "another format: not a training checkpoint of this project"
    except Exception:  # noqa: BLE001 - torch raises a different type per corruption
        why = ("empty file" if path.stat().st_size == 0
               else "truncated, or not written by torch.save")
    if why:  # start over rather than fail on every rerun
        warnings.warn(f"checkpoint {path} is unreadable ({why}); deleting it and training "
                      "from the start", stacklevel=2)
        path.unlink(missing_ok=True)
        return None
    return state


def _restore(state: dict[str, Any], model: nn.Module, opt: torch.optim.Optimizer, sched: Any,
             history: History) -> int:
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    keys, pos, has_gauss, gauss = state["numpy_rng"]
    np.random.set_state(("MT19937", np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    history.steps[:] = state["history_steps"]
    history.epochs[:] = state["history_epochs"]
    return int(state["epoch"])


def _numpy_state() -> list[Any]:
    """numpy's legacy global RNG state as plain lists (loadable with weights_only)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    return [[int(k) for k in keys], int(pos), int(has_gauss), float(gauss)]


def summarize(steps: list[dict[str, float]], finals: Sequence[str] = ()
              ) -> dict[str, float]:
    """The training summary every experiment reports, defined once: ``final_loss`` is
    the mean loss over the last 10% of iterations (at least one; it smooths minibatch
    noise), ``nfe_forward_mean`` and ``nfe_backward_mean`` the mean NFE per iteration
    over the whole run (paper Fig. 3: NFE-F, NFE-B). Each key of ``finals`` that the
    rows have (e.g. ``elbo``) gets ``final_<key>``, over the same tail."""
    if not steps:
        raise ValueError("no training steps to summarise; the log is empty")
    tail = steps[-max(1, math.ceil(len(steps) / 10)):]
    out = {"final_loss": float(np.mean([r["loss"] for r in tail])),
           "nfe_forward_mean": float(np.mean([r["nfe_forward"] for r in steps])),
           "nfe_backward_mean": float(np.mean([r["nfe_backward"] for r in steps]))}
    out.update({f"final_{k}": float(np.mean([r[k] for r in tail]))
                for k in finals if k in tail[0]})
    return out
