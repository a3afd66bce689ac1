"""Latent ODE vs RNN on irregularly sampled spirals (paper sec. 5.1, Table 2, Figs. 8-9).

One run trains one model variant (a key of ``train_latent.models``) on the training
spirals observed at ``n_obs`` irregular times (:func:`train`); the evaluation stage
scores the saved model on the test spirals (:func:`evaluate_saved`): Table 2's
predictive RMSE over the ``n_future`` points after the observation window, and the
reconstruction RMSE at the observed points, both against the noise-free curve; and the
same scores of the weight snapshots training kept (:func:`evaluate_budget`), the
budget axis the report's convergence rule reads. The figures (Figs. 8-9, RMSE against
iterations) are drawn by :mod:`neuralode_repro.figures.latent`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralode import collect_stats

from .. import runs
from ..artifacts import IDENTITY, save_model
from ..config import SEED_MAX, SolverConfig, check_seed_in, check_seeds, num, parse
from ..data.spirals import SpiralBatch, make_batch
from ..io import write_csv, write_json
from ..models.latent import (
    LatentConfig,
    RNNBaseline,
    SequenceModel,
    build_model,
    evaluate,
    loss_fn,
    mean_gap,
)
from ..models.rnn_diagnostics import rollout_error_by_step, teacher_forced_future_rmse
from ..runtime import describe
from ..tracking import Tracker
from ..training import OptimConfig, seed_everything, summarize
from .budget import each_snapshot, fit_with_budget
from .tight import solved_by

ROLLOUT_BINS = 10  # evaluate_saved's RNN rollout error: per tenth of the future points


@dataclasses.dataclass(frozen=True)
class LatentTrainConfig:
    """``train_latent``: settings shared by every variant, and the variants.

    ``models`` maps a variant name (the stage's ``--model``) to a
    :class:`~neuralode_repro.models.latent.LatentConfig`, whose ``model`` field picks the
    class (``latent_ode`` or ``rnn``). Training is one pass of ``iterations`` minibatches
    of ``batch_size`` training spirals, reshuffled whenever the training set is used up
    (``batch_size`` above the training-set size means full-batch training). ``seeds``
    (DVC's ``matrix``) are the training seeds: weights, minibatch order and posterior
    samples; the spirals are fixed by ``common.seed``, so every seed sees the same data
    and the comparison with the RNN is paired by seed. ``budget_points`` weight snapshots
    are kept at equal fractions of the run, with the training time so far: the budget
    axis that evaluate_latent scores and the report's convergence rule reads (0: none).
    ``tight_solver``: evaluate_latent scores each latent ODE again with it, beside its
    training solver (a result that holds only at the training tolerance is the solver's).
    """

    iterations: int = num(3000, ge=1)
    seeds: tuple[int, ...] = num((0,), ge=0, le=SEED_MAX)
    batch_size: int = num(100, ge=1)
    budget_points: int = num(5, ge=0)
    optim: OptimConfig = OptimConfig(name="adam", lr=0.01)
    tight_solver: SolverConfig = SolverConfig(rtol=1e-6, atol=1e-6, adjoint=False)
    models: dict[str, LatentConfig] = dataclasses.field(
        default_factory=lambda: {"latent_ode": LatentConfig(), "rnn": LatentConfig(model="rnn")})

    def validate(self) -> None:
        check_seeds(self.seeds)
        if self.optim.schedule == "multistep":
            raise ValueError("optim.schedule: 'multistep' counts epochs, and this stage trains "
                             "one pass of `iterations` steps; use constant, cosine or onecycle")


def check_inputs(variant: str, n_obs: int, cfg: LatentTrainConfig,
                 data: dict[str, np.ndarray], seed: int) -> LatentConfig:
    """The variant's model config; a clear error for an unknown variant, n_obs or seed
    (one run of the params' matrix)."""
    if variant not in cfg.models:
        raise ValueError(f"unknown model {variant!r}: train_latent.models has "
                         f"{', '.join(sorted(cfg.models))}")
    check_seed_in(seed, cfg.seeds, "train_latent")
    check_n_obs(n_obs, data)
    return cfg.models[variant]


def check_n_obs(n_obs: int, data: dict[str, np.ndarray]) -> None:
    """A clear error when the spirals were not generated with ``n_obs`` observations."""
    have = sorted(int(k.removeprefix("obs_idx_")) for k in data if k.startswith("obs_idx_"))
    if n_obs not in have:
        raise ValueError(f"n_obs={n_obs} was not generated: data/spirals.npz has n_obs "
                         f"{have}; add it to generate_data.spirals.n_obs")


def check_model_data(config: dict[str, Any], data: dict[str, np.ndarray]) -> None:
    """The saved model (its file's ``config``) fits these spirals: its n_obs was
    generated and its likelihood's sigma is the data's noise (else the data changed
    after training: retrain)."""
    check_n_obs(int(config["n_obs"]), data)
    if float(config["noise_std"]) != float(data["noise_std"]):
        raise ValueError(f"the model was trained on spirals with noise_std "
                         f"{config['noise_std']}, data/spirals.npz has "
                         f"{float(data['noise_std'])}; retrain it (dvc repro train_latent)")


def _batches(train_idx: np.ndarray, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless minibatches of distinct training spirals; a new shuffle per pass."""
    while True:
        order = rng.permutation(train_idx)
        for i in range(0, len(order) - size + 1, size):
            yield np.sort(order[i:i + size])


def train(variant: str, n_obs: int, cfg: LatentTrainConfig, data: dict[str, np.ndarray], *,
          seed: int, data_path: str | Path, device: torch.device, tracker: Tracker,
          weights: Path, log: Path, summary: Path, snapshots: Path
          ) -> tuple[SequenceModel, dict[str, Any]]:
    """Train ``variant`` on ``n_obs`` observations per training spiral and write its
    model file, per-iteration log, training summary and (to ``snapshots``) the weight
    snapshots of the budget axis (``cfg.budget_points``); the model file records the
    run's identity (:meth:`~neuralode_repro.runs.Run.identity`; ``data_path``: the file
    ``data`` was read from), the summary its ``model``, ``n_obs`` and ``seed``. Reads no
    test spiral (the evaluate_latent stage scores the saved model). Returns (model,
    summary)."""
    mcfg = check_inputs(variant, n_obs, cfg, data, seed)
    run = runs.run("latent", model=variant, n_obs=n_obs, seed=seed)
    seed_everything(seed)
    noise_std = float(data["noise_std"])  # the likelihood's sigma is the data's (one source)
    train_idx = data["train_idx"]
    gap_scale = mean_gap(make_batch(data, n_obs, train_idx).t_obs)  # training spirals only
    model = build_model(mcfg, noise_std=noise_std, gap_scale=gap_scale).to(device)
    batch_size = min(cfg.batch_size, len(train_idx))
    stream = _batches(train_idx, batch_size, np.random.default_rng(seed))

    def batches(_: int) -> Iterator[SpiralBatch]:
        for idx in stream:
            yield make_batch(data, n_obs, idx, device=device)

    history, budget, train_time = fit_with_budget(
        model, loss_fn, batches, optim=cfg.optim, steps=cfg.iterations,
        points=cfg.budget_points, tracker=tracker, desc=run.stage())
    facts: dict[str, Any] = {
        "model": variant, "model_class": mcfg.model, "n_obs": n_obs, "seed": seed,
        **summarize(history.steps, finals=("elbo",)), "iterations": cfg.iterations,
        "batch_size": batch_size, "noise_std": noise_std, "gap_scale": gap_scale,
        "adjoint": mcfg.solver.adjoint if mcfg.model == "latent_ode" else False,
        **({"time_input": mcfg.time_input, "rollout": mcfg.rollout}
           if mcfg.model == "rnn" else {}),
        "n_train": len(train_idx), "train_time_s": train_time,
        "time_per_iteration_s": train_time / cfg.iterations, "runtime": describe(device)}
    config = {"model": dataclasses.asdict(mcfg), "noise_std": noise_std, "variant": variant,
              "n_obs": n_obs, "seed": seed, "gap_scale": gap_scale}
    save_model(weights, model, config,
               meta={"mlflow_run_id": tracker.run_id or "",
                     IDENTITY: dict(run.identity(data_path).keys)})
    write_csv(log, [{"step": i + 1, **r} for i, r in enumerate(history.steps)])
    write_json(summary, facts)
    budget.save(snapshots, cfg.iterations)
    return model, facts


def model_from_config(config: dict[str, Any]) -> SequenceModel:
    """The model a saved latent model file describes (its weights are loaded after)."""
    mcfg = parse(LatentConfig, config["model"], "latent model file:config.model")
    return build_model(mcfg, noise_std=float(config["noise_std"]),
                       gap_scale=float(config["gap_scale"]))


def evaluate_saved(model: SequenceModel, data: dict[str, np.ndarray], n_obs: int,
                   device: torch.device, tight: SolverConfig | None = None) -> dict[str, Any]:
    """Table 2's scores of a trained model on the test spirals (paper sec. 5.1): the
    predictive RMSE over the ``n_future`` points after the window and the
    reconstruction RMSE at the observed points, against the noise-free curve.

    For the RNN, where its predictive error comes from
    (:mod:`~neuralode_repro.models.rnn_diagnostics`): ``teacher_forced_future_rmse``,
    the same points' RMSE when each rollout step reads the true previous value instead
    of its own prediction (pred_rmse minus it: the compounding);
    ``rollout_rmse_by_step``, pred_rmse over 10 consecutive tenths of the future points
    in time order, and ``rollout_steps_by_bin``, the mean number of autoregressive steps
    from the last observation to each tenth's points.

    For a latent ODE, with ``tight``: ``pred_rmse_tight`` and ``recon_rmse_tight``, the
    same scores with every solve by that solver, and its ``test_nfe_forward_tight``."""
    test = make_batch(data, n_obs, data["test_idx"], device=device)
    t0 = time.perf_counter()
    with collect_stats() as stats:
        scores = evaluate(model, test)
    if isinstance(model, RNNBaseline):
        rows = rollout_error_by_step(model, test, bins=ROLLOUT_BINS)
        scores |= {"teacher_forced_future_rmse": teacher_forced_future_rmse(model, test),
                   "rollout_rmse_by_step": [r["rmse"] for r in rows],
                   "rollout_steps_by_bin": [r["rollout_steps"] for r in rows]}
    scores |= {"n_test": len(data["test_idx"]), "test_nfe_forward": stats.nfe_forward,
               "eval_time_s": time.perf_counter() - t0}
    if tight is not None:
        with solved_by(model, tight) as swapped, collect_stats() as stats:
            again = evaluate(model, test) if swapped else {}
        if again:
            scores |= {"pred_rmse_tight": again["pred_rmse"],
                       "recon_rmse_tight": again["recon_rmse"],
                       "test_nfe_forward_tight": stats.nfe_forward}
    return scores


def evaluate_budget(model: SequenceModel, data: dict[str, np.ndarray], n_obs: int,
                    snapshots: dict[str, Any], device: torch.device) -> list[dict[str, Any]]:
    """The budget axis of one run: :func:`evaluate_saved`'s predictive and
    reconstruction RMSE (the same test spirals) of each training snapshot
    (``snapshots``: :func:`~neuralode_repro.snapshots.read_snapshots`), with its
    iterations and training seconds so far; rows of step, train_time_s, pred_rmse and
    recon_rmse in step order. ``model`` keeps its own weights afterwards."""
    test = make_batch(data, n_obs, data["test_idx"], device=device)
    rows = []
    for step, secs in each_snapshot(model, snapshots):
        scores = evaluate(model, test)
        rows.append({"step": step, "train_time_s": secs, "pred_rmse": scores["pred_rmse"],
                     "recon_rmse": scores["recon_rmse"]})
    return rows
