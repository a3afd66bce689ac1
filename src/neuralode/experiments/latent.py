"""Latent ODE vs RNN on irregularly sampled spirals (paper sec. 5.1, Table 2, Figs. 8-9).

One run trains one model variant (a key of ``train_latent.models``) on the training
spirals observed at ``n_obs`` irregular times, then scores it on the test spirals:
Table 2's predictive RMSE over the ``n_future`` points after the observation window,
and the reconstruction RMSE at the observed points, both against the noise-free curve.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import num
from ..data.spirals import SpiralBatch, make_batch
from ..figures import latent as figs
from ..io import write_json, write_text
from ..models.latent import LatentConfig, LatentODE, SequenceModel, build_model, evaluate, loss_fn
from ..runtime import describe
from ..tracking import Tracker
from ..training import OptimConfig, fit, seed_everything


@dataclasses.dataclass(frozen=True)
class LatentEvalConfig:
    """``train_latent.eval``: test-set evaluation during training and the figures."""

    every: int = num(250, ge=1)  # iterations between test RMSEs logged to MLflow
    figure_points: int = num(200, ge=10)  # times per decoded curve in the figures
    projection_spirals: int = num(100, ge=2)  # test spirals in the latent projection
    interpolation_steps: int = num(10, ge=2)  # points on the line z_cw -> z_ccw


@dataclasses.dataclass(frozen=True)
class LatentTrainConfig:
    """``train_latent``: settings shared by every variant, and the variants.

    ``models`` maps a variant name (the stage's ``--model``) to a
    :class:`~neuralode.models.latent.LatentConfig`, whose ``model`` field picks the
    class (``latent_ode`` or ``rnn``). Training is one pass of ``iterations`` minibatches
    of ``batch_size`` training spirals, reshuffled whenever the training set is used up
    (``batch_size`` above the training-set size means full-batch training).
    """

    iterations: int = num(3000, ge=1)
    batch_size: int = num(100, ge=1)
    optim: OptimConfig = OptimConfig(name="adam", lr=0.01)
    eval: LatentEvalConfig = LatentEvalConfig()
    models: dict[str, LatentConfig] = dataclasses.field(
        default_factory=lambda: {"latent_ode": LatentConfig(), "rnn": LatentConfig(model="rnn")})

    def validate(self) -> None:
        if self.optim.schedule == "multistep":
            raise ValueError("optim.schedule: 'multistep' counts epochs, and this stage trains "
                             "one pass of `iterations` steps; use constant, cosine or onecycle")


def check_inputs(variant: str, n_obs: int, cfg: LatentTrainConfig,
                 data: dict[str, np.ndarray]) -> LatentConfig:
    """The variant's model config; a clear error for an unknown variant or n_obs."""
    if variant not in cfg.models:
        raise ValueError(f"unknown model {variant!r}: train_latent.models has "
                         f"{', '.join(sorted(cfg.models))}")
    have = sorted(int(k.removeprefix("obs_idx_")) for k in data if k.startswith("obs_idx_"))
    if n_obs not in have:
        raise ValueError(f"n_obs={n_obs} was not generated: data/spirals.npz has n_obs "
                         f"{have}; add it to generate_data.spirals.n_obs")
    return cfg.models[variant]


def _batches(train_idx: np.ndarray, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless minibatches of distinct training spirals; a new shuffle per pass."""
    while True:
        order = rng.permutation(train_idx)
        for i in range(0, len(order) - size + 1, size):
            yield np.sort(order[i:i + size])


def run(variant: str, n_obs: int, cfg: LatentTrainConfig, data: dict[str, np.ndarray], *,
        seed: int, device: torch.device, tracker: Tracker, metrics_dir: Path,
        figures_dir: Path) -> dict[str, Any]:
    """Train ``variant`` on ``n_obs`` observations per spiral, score it on the test set,
    and write ``<variant>_n<n_obs>.json``, ``..._curve.csv`` and the figures."""
    mcfg = check_inputs(variant, n_obs, cfg, data)
    start = time.perf_counter()
    seed_everything(seed)
    noise_std = float(data["noise_std"])  # the likelihood's sigma is the data's (one source)
    model = build_model(mcfg, noise_std=noise_std).to(device)
    train_idx, test_idx = data["train_idx"], data["test_idx"]
    batch_size = min(cfg.batch_size, len(train_idx))
    rng = np.random.default_rng(seed)
    stream = _batches(train_idx, batch_size, rng)
    test = make_batch(data, n_obs, test_idx, device=device)

    def batches(_: int) -> Iterator[SpiralBatch]:
        for idx in stream:
            yield make_batch(data, n_obs, idx, device=device)

    def on_step(step: int, row: dict[str, float]) -> None:
        tracker.log_metrics(row, step)
        if step % cfg.eval.every == 0 or step == cfg.iterations:
            tracker.log_metrics({f"test_{k}": v for k, v in evaluate(model, test).items()},
                                step)

    t_train = time.perf_counter()
    history = fit(model, loss_fn, batches, optim=cfg.optim, epochs=1,
                  steps_per_epoch=cfg.iterations, on_step=on_step,
                  desc=f"train_latent@{variant}-{n_obs}")
    train_time = time.perf_counter() - t_train
    scores = evaluate(model, test)
    tail = history.steps[-max(1, cfg.iterations // 10):]  # last 10%: smooths minibatch noise
    metrics: dict[str, Any] = {
        "model": variant, "model_class": mcfg.model, "n_obs": n_obs, **scores,
        "final_loss": float(np.mean([r["loss"] for r in tail])),
        "nfe_forward_mean": history.mean("nfe_forward"),
        "nfe_backward_mean": history.mean("nfe_backward"),
        "iterations": cfg.iterations, "batch_size": batch_size, "noise_std": noise_std,
        "adjoint": mcfg.solver.adjoint if mcfg.model == "latent_ode" else False,
        "n_train": len(train_idx), "n_test": len(test_idx),
        "train_time_s": train_time, "time_per_iteration_s": train_time / cfg.iterations,
    }
    if "elbo" in tail[0]:
        metrics["final_elbo"] = float(np.mean([r["elbo"] for r in tail]))
    name = f"{variant}_n{n_obs}"
    write_curve(metrics_dir / f"{name}_curve.csv", history.steps)
    _figures(model, data, n_obs, cfg.eval, figures_dir, f"{variant}, {n_obs} observations",
             device)
    metrics["wall_time_s"] = time.perf_counter() - start
    metrics["runtime"] = describe(device)
    write_json(metrics_dir / f"{name}.json", metrics)
    tracker.log_state_dict(model)
    return metrics


def write_curve(path: Path, rows: list[dict[str, float]]) -> None:
    """Per-iteration training curve for ``dvc plots``: step, loss, the model's logs
    (elbo, logpx, kl for the latent ODE; nll for the RNN), recon_mse, NFE-F, NFE-B, lr."""
    keys = list(rows[0])
    lines = ["step," + ",".join(keys)]
    lines += [f"{i + 1}," + ",".join(f"{r[k]:.6g}" for k in keys) for i, r in enumerate(rows)]
    write_text(path, "\n".join(lines) + "\n")


def _grid_spirals(data: dict[str, np.ndarray], count: int = 9) -> np.ndarray:
    """``count`` test spirals, alternating clockwise and counter-clockwise."""
    test = data["test_idx"]
    cw, ccw = test[data["clockwise"][test]], test[~data["clockwise"][test]]
    mixed = [i for pair in zip(cw, ccw, strict=False) for i in pair]
    rest = sorted(set(test) - set(mixed))  # the surplus of the larger direction
    return np.array((mixed + rest)[:count])


@torch.no_grad()
def _figures(model: SequenceModel, data: dict[str, np.ndarray], n_obs: int,
             ecfg: LatentEvalConfig, out: Path, title: str, device: torch.device) -> None:
    """Fig. 8a-b for both models; Fig. 8c and the z_t0 interpolation (Fig. 9's idea) for
    the latent ODE, whose z_t0 is the posterior mean of each test spiral."""
    t = data["t"]  # (W+F,) window and future times
    w = int(data["n_window"])
    idx = _grid_spirals(data)
    batch = make_batch(data, n_obs, idx, device=device)
    pred = model.predict(batch)
    dense = torch.linspace(0.0, float(t[-1]), ecfg.figure_points, device=device)  # (K,)
    window = dense <= float(t[w - 1])
    if isinstance(model, LatentODE):
        # a continuous decoded path: reconstruction inside the window, then extrapolation
        path = model.decode_path(pred.z0_mean, dense).cpu().numpy()  # (B, K, 2)
        inside = window.cpu().numpy()
        after = np.r_[inside[1:] != inside[:-1], False] | ~inside  # joins at the window end
        fit_x, fut_x = path[:, inside], path[:, after]
    else:  # the RNN predicts at the observed, then the future, times only
        fit_x, fut_x = pred.recon.cpu().numpy(), pred.future.cpu().numpy()
    panels = [figs.SpiralPanel(t_obs=batch.t_obs[i].cpu().numpy(),
                               x_obs=batch.x_obs[i].cpu().numpy(), true=data["true"][j],
                               fit=fit_x[i], future=fut_x[i], clockwise=bool(data["clockwise"][j]))
              for i, j in enumerate(idx)]
    figs.reconstructions(panels, float(t[w - 1]), title, out / "reconstructions.png")
    if not isinstance(model, LatentODE):
        return
    test = data["test_idx"]
    take = test[np.linspace(0, len(test) - 1, min(ecfg.projection_spirals, len(test)))
                .round().astype(int)]
    sub = make_batch(data, n_obs, take, device=device)
    z0, _ = model.encode(sub)  # (B, L) posterior means
    z = model.latent_trajectory(z0, dense)  # (B, K, L)
    figs.latent_projection(z.cpu().numpy(), data["clockwise"][take], out / "latent_projection.png")
    # the first clockwise and counter-clockwise test spirals (the split has both)
    pair = [test[data["clockwise"][test]][0], test[~data["clockwise"][test]][0]]
    ends, _ = model.encode(make_batch(data, n_obs, pair, device=device))  # (2, L): cw, ccw
    alphas = torch.linspace(0.0, 1.0, ecfg.interpolation_steps, device=device)  # (A,)
    line = (1 - alphas)[:, None] * ends[0] + alphas[:, None] * ends[1]  # (A, L)
    paths = model.decode_path(line, dense).cpu().numpy()  # (A, K, 2)
    figs.interpolation(paths, dense.cpu().numpy(), alphas.cpu().numpy(),
                       out / "interpolation.png")
