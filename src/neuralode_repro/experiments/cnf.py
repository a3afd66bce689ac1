"""Continuous normalizing flows vs planar normalizing flows (paper sec. 4.1, Figs. 4-5):
configuration and training.

Two tasks, each a DVC matrix of single runs: ``ml`` (Fig. 5), maximum likelihood on 2-D
data for a planar CNF of M units and a planar NF of K layers; ``capacity`` (Fig. 4),
density matching by minimising KL(q || p) toward p = exp(-U) / Z for K = M in ``widths``.
:func:`train` fits one run and saves the model file; :mod:`.cnf_eval` scores the saved
model (held-out NLL, KL with log Z) and aggregates Fig. 4; the figures are drawn by
:mod:`neuralode_repro.figures.cnf` (stage figures_cnf). This module imports no figure code.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from .. import runs
from ..artifacts import IDENTITY, save_model
from ..config import SEED_MAX, ConfigError, SolverConfig, check_seed_in, check_seeds, num, parse
from ..data.toy2d import PotentialConfig, Toy2DConfig
from ..io import write_csv, write_json
from ..models.cnf import FlowConfig, build_flow, kl_loss, nll_loss
from ..models.flows import Flow
from ..runtime import describe
from ..tracking import Tracker
from ..training import OptimConfig, seed_everything, summarize
from .budget import fit_with_budget

Task = Literal["ml", "capacity"]
Kind = Literal["cnf", "nf"]


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """One model's training: the flow, Adam/RMSprop settings, iterations and batch;
    ``budget_points`` (ml only) weight snapshots at equal fractions of the run, with
    the training time so far: the budget axis that evaluate_cnf_ml scores."""

    model: FlowConfig
    steps: int = num(1000, ge=1)
    batch_size: int = num(512, ge=2)
    optim: OptimConfig = OptimConfig(name="adam", lr=1e-3)
    budget_points: int = num(0, ge=0)


@dataclasses.dataclass(frozen=True)
class MLConfig:
    """``train_cnf.ml``: maximum likelihood (paper Fig. 5); one run per target x model."""

    targets: dict[str, Toy2DConfig]
    cnf: TrainSpec
    nf: TrainSpec


@dataclasses.dataclass(frozen=True)
class CapacityConfig:
    """``train_cnf.capacity``: density matching (paper Fig. 4), one run per model x width
    (M CNF units, K NF layers)."""

    target: PotentialConfig
    widths: tuple[int, ...] = num(ge=1)
    cnf: TrainSpec
    nf: TrainSpec

    def validate(self) -> None:
        if not self.widths or any(w < 1 for w in self.widths) \
                or list(self.widths) != sorted(set(self.widths)):
            raise ValueError(f"widths must be increasing positive integers, got {self.widths}")
        for kind in ("cnf", "nf"):
            if getattr(self, kind).model.width != FlowConfig().width:
                raise ValueError(f"{kind}.model.width is set per run from widths; remove it")
            if getattr(self, kind).budget_points:
                raise ValueError(f"{kind}.budget_points: the budget axis is of the ml task "
                                 "only; remove it")


@dataclasses.dataclass(frozen=True)
class CNFTrainConfig:
    """``train_cnf``: both tasks; each model's ``kind`` must match its key. ``seeds``
    (DVC's ``matrix``) are the training seeds of every run: weights, training batches
    and test points; runs of the same seed pair up (CNF vs NF)."""

    ml: MLConfig
    capacity: CapacityConfig
    seeds: tuple[int, ...] = num((0,), ge=0, le=SEED_MAX)

    def validate(self) -> None:
        check_seeds(self.seeds)
        for task in ("ml", "capacity"):
            for kind in ("cnf", "nf"):
                if getattr(getattr(self, task), kind).model.kind != kind:
                    raise ValueError(f"{task}.{kind}.model.kind must be {kind!r}")


_TIGHT = SolverConfig(rtol=1e-6, atol=1e-6, adjoint=False)


@dataclasses.dataclass(frozen=True)
class MLEvalConfig:
    """``evaluate_cnf.ml``: the held-out NLL over ``size`` test points, integrated by
    ``solver`` (tight: the training tolerance must not bias the NLL); each budget
    snapshot's over the first ``budget_size`` of them."""

    size: int = num(4096, ge=2)
    solver: SolverConfig = _TIGHT
    budget_size: int = num(1024, ge=2)  # test points (the first of them) per budget point

    def validate(self) -> None:
        if self.budget_size > self.size:
            raise ValueError(f"budget_size={self.budget_size} must be <= size={self.size} "
                             "(the budget points use the first test points)")


@dataclasses.dataclass(frozen=True)
class CapacityEvalConfig:
    """``evaluate_cnf.capacity``: KL(q || p) over ``size`` base samples by ``solver``;
    log Z by a ``log_z_grid``^2 midpoint rule on [-lim, lim]^2 (U1's mass lies inside)."""

    size: int = num(8192, ge=2)
    solver: SolverConfig = _TIGHT
    lim: float = num(4.0, gt=0)
    log_z_grid: int = num(400, ge=10)


@dataclasses.dataclass(frozen=True)
class CNFEvalConfig:
    """``evaluate_cnf``: evaluation settings of both tasks (no training reads them)."""

    ml: MLEvalConfig = MLEvalConfig()
    capacity: CapacityEvalConfig = CapacityEvalConfig()


# a run's selection on train_cnf's and evaluate_cnf's command lines (runner.parser)
CLI = {"--task": ("the experiment", {"required": True, "choices": ["ml", "capacity"]}),
       "--model": ("the run's model", {"required": True, "choices": ["cnf", "nf"]}),
       "--target": ("ml: the run's key of train_cnf.ml.targets", {}),
       "--width": ("capacity: the run's width, one of train_cnf.capacity.widths",
                   {"type": int}),
       "--seed": ("the run's training seed, one of train_cnf.seeds",
                  {"required": True, "type": int})}


def check_selection(cfg: CNFTrainConfig, task: Task, *, target: str | None,
                    width: int | None, seed: int | None = None,
                    snapshots: Path | str | None = None) -> None:
    """The stage's command-line selection must name a run of the params' matrix, and an
    ml run, and only an ml run, writes the budget axis's ``snapshots``."""
    if seed is not None:
        check_seed_in(seed, cfg.seeds, "train_cnf")
    if task == "ml" and target not in cfg.ml.targets:
        raise ConfigError(f"train_cnf.ml.targets: no target {target!r}; "
                          f"have: {', '.join(cfg.ml.targets)}")
    if task == "capacity" and width not in cfg.capacity.widths:
        raise ConfigError(f"train_cnf.capacity.widths: {width!r} is not one of "
                          f"{list(cfg.capacity.widths)}")
    if (task == "ml") != (snapshots is not None):
        raise ValueError(f"snapshots (--snapshots) are {'required' if task == 'ml' else 'not used'}"
                         f" with task {task!r}: the ml runs write the budget axis; pass them "
                         "as dvc.yaml's cmd does")


def run_spec(cfg: CNFTrainConfig, task: Task, kind: Kind, width: int | None) -> TrainSpec:
    """The training spec of one run (capacity: its model's width set from ``width``)."""
    spec = getattr(getattr(cfg, task), kind)
    if task == "capacity":
        spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, width=width))
    return spec


def model_from_config(config: dict[str, Any]) -> Flow:
    """The flow a saved CNF model file describes (its weights are loaded after)."""
    return build_flow(parse(FlowConfig, config["model"], "cnf model file:config.model"))


def train(task: Task, kind: Kind, cfg: CNFTrainConfig, *, seed: int, tracker: Tracker,
          weights: Path, log: Path, summary: Path, target: str | None = None,
          width: int | None = None, snapshots: Path | None = None,
          device: torch.device | None = None) -> tuple[Flow, dict[str, Any]]:
    """Train one run of ``task`` and write the model file, the per-iteration log, the
    training summary and (ml, to ``snapshots``) the budget axis's weight snapshots.
    Returns (model, summary). The model file's config holds what rebuilds the flow and
    what evaluation needs (task, target, seed); its meta the run's identity
    (:meth:`~neuralode_repro.runs.Run.identity`), which the summary's task, model, target
    or width and seed repeat.

    ml (Fig. 5): minimise -E_data[log q(x)] on fresh batches of the target's samples;
    capacity (Fig. 4): minimise E_q[log q + U] = KL(q || p) - log Z over base samples
    (log Z is added back by evaluation, which owns its integration box)."""
    check_selection(cfg, task, target=target, width=width, seed=seed, snapshots=snapshots)
    device = device or torch.device("cpu")
    spec = run_spec(cfg, task, kind, width)
    data: Toy2DConfig | PotentialConfig = (cfg.ml.targets[str(target)] if task == "ml"
                                          else cfg.capacity.target)
    seed_everything(seed)  # the global torch RNG draws the init and capacity base batches
    model = build_flow(spec.model).to(device)
    if task == "ml":
        rng = np.random.default_rng([seed, 1])  # the training stream (test: [seed, 2])

        def batches(_: int) -> Iterator[Tensor]:
            while True:
                yield data.sample(spec.batch_size, rng).to(device)  # (B, 2)
        loss_fn = nll_loss
    else:
        def batches(_: int) -> Iterator[Tensor]:
            while True:
                yield model.sample_base(spec.batch_size)  # (B, 2)
        loss_fn = functools.partial(kl_loss, energy=data.energy())

    run = runs.cnf(task, kind, seed, target=target, width=width)
    history, budget, wall = fit_with_budget(model, loss_fn, batches, optim=spec.optim,
                                            steps=spec.steps, points=spec.budget_points,
                                            tracker=tracker, desc=run.stage())
    model.eval()
    facts: dict[str, Any] = {
        "task": task, "model": kind, "width": spec.model.width, "seed": seed,
        "target": target if task == "ml" else data.name,
        **summarize(history.steps), "steps": spec.steps, "batch_size": spec.batch_size,
        "train_time_s": wall, "time_per_iteration_s": wall / spec.steps,
        "runtime": describe(device)}
    config = {"task": task, "kind": kind, "seed": seed, "target": dataclasses.asdict(data),
              "model": dataclasses.asdict(spec.model)}
    save_model(weights, model, config,
               meta={"mlflow_run_id": tracker.run_id or "", IDENTITY: dict(run.identity().keys)})
    write_csv(log, [{"step": i + 1, **r} for i, r in enumerate(history.steps)])
    write_json(summary, facts)
    if snapshots is not None:
        budget.save(snapshots, spec.steps)
    return model, facts
