"""Toy dynamics fits (the tutorial notebook's experiments): learn dz/dt from noisy
observations of one trajectory with the adjoint method (paper sec. 2).

:func:`train` fits and saves the model; :func:`evaluate` scores a saved model; the
figures are drawn by :mod:`neuralode_repro.figures.toy` from both (stage figures_toy)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from .. import runs
from ..artifacts import IDENTITY, save_model
from ..config import SEED_MAX, ConfigError, SolverConfig, check_seed_in, check_seeds, num, parse
from ..data.toy import sample_span
from ..io import load_arrays, save_arrays, write_csv, write_json
from ..models.toy import LinearField, MLPField
from ..runtime import describe
from ..solving import solve
from ..tracking import Tracker
from ..training import OptimConfig, fit, seed_everything, summarize


@dataclasses.dataclass(frozen=True)
class ToyTrainConfig:
    """``train_toy.<experiment>``: model, optimizer and sub-span sampling.

    ``restarts`` > 1 trains that many random initialisations and keeps the one whose
    trajectory from z0 fits the observations best (a selection on training data only:
    the true system is never consulted).
    """

    model: Literal["linear", "mlp"]
    steps: int = num(500, ge=1)
    optim: OptimConfig = OptimConfig(name="adam", lr=0.01)
    init_std: float = num(0.5, gt=0)
    hidden: tuple[int, ...] = num((16, 16), ge=1)
    min_span: float = num(1.0, gt=0)
    max_span: float = num(5.0, gt=0)
    max_points: int = num(32, ge=2)
    solver: SolverConfig = SolverConfig(rtol=1e-5, atol=1e-6)
    gif_frames: int = num(25, ge=2)
    restarts: int = num(1, ge=1)

    def validate(self) -> None:
        if self.min_span > self.max_span:
            raise ValueError(f"min_span={self.min_span} must be <= max_span={self.max_span}")


@dataclasses.dataclass(frozen=True)
class ToySectionConfig:
    """``train_toy``: the training seeds and one experiment per toy system.

    ``systems`` maps a system of ``generate_data.toy.systems`` (whose one noisy
    trajectory it fits) to its :class:`ToyTrainConfig`. ``seeds`` (DVC's ``matrix``) are
    the training seeds: the initialisation and the sampled sub-spans. The observations
    are fixed by ``common.seed``, so every seed fits the same data.
    """

    seeds: tuple[int, ...] = num((0,), ge=0, le=SEED_MAX)
    systems: dict[str, ToyTrainConfig] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        check_seeds(self.seeds)
        if not self.systems:
            raise ValueError("systems: expected at least one experiment, e.g. "
                             "{linear: {model: linear}}, got none")

    def experiment(self, name: str, seed: int) -> ToyTrainConfig:
        """The config of run ``name``/``seed``; a clear error if the matrix has no such run."""
        if name not in self.systems:
            raise ConfigError(f"train_toy.systems has no experiment {name!r} (have: "
                              f"{', '.join(self.systems)}); pick one or add it there")
        check_seed_in(seed, self.seeds, "train_toy")
        return self.systems[name]


def load_data(path: Path, name: str) -> dict[str, np.ndarray]:
    """``path`` (``data/toy/<name>.npz``), written by generate_data for system ``name``."""
    path, folder = Path(path), Path(path).parent
    if not path.exists():
        have = sorted(p.stem for p in folder.glob("*.npz")) if folder.is_dir() else []
        if have:
            raise ConfigError(f"train_toy.systems.{name}: no toy system {name!r} in "
                              f"generate_data.toy.systems (generated: {', '.join(have)}); "
                              f"add it there or remove train_toy.systems.{name}")
        raise FileNotFoundError(f"{path} not found; run `dvc repro` so generate_data "
                                "writes it first")
    return load_arrays(path)


def build_field(cfg: ToyTrainConfig, generator: torch.Generator) -> nn.Module:
    if cfg.model == "linear":
        return LinearField.random(2, cfg.init_std, generator)
    return MLPField(2, cfg.hidden)


def model_from_config(config: dict[str, Any]) -> nn.Module:
    """The field a saved toy model file describes (its weights are loaded after)."""
    cfg = parse(ToyTrainConfig, config, "toy model file:config")
    return build_field(cfg, torch.Generator().manual_seed(0))


def train(name: str, cfg: ToyTrainConfig, data: dict[str, np.ndarray], *, seed: int,
          data_path: str | Path, tracker: Tracker, weights: Path, log: Path, summary: Path,
          snapshots: Path, device: torch.device | None = None
          ) -> tuple[nn.Module, dict[str, Any]]:
    """Fit one toy experiment (``cfg.restarts`` random inits, the best fit to the
    observations kept) and write the model file, the per-iteration log, the training
    summary and the trajectory snapshots of the training GIF; the model file records the
    run's identity (:meth:`~neuralode_repro.runs.Run.identity`; ``data_path``: the file
    ``data`` was read from), the summary its ``model`` (``name``) and ``seed``. Returns
    (model, summary)."""
    device = device or torch.device("cpu")
    if cfg.max_span >= float(data["t"][-1]):
        raise ValueError(f"train_toy.systems.{name}.max_span={cfg.max_span} must be below the "
                         f"observed span t_max={float(data['t'][-1])}")
    run = runs.run("toy", name=name, seed=seed)
    start = time.perf_counter()
    fits = [_fit_once(run.stage(), cfg, data, seed + 1000 * k, tracker, device,
                      prefix=f"restart{k}/" if cfg.restarts > 1 else "")
            for k in range(cfg.restarts)]
    obs_mses = [float(np.mean((f["traj"][: len(data["t"])] - data["obs"]) ** 2)) for f in fits]
    best = int(np.argmin(obs_mses))
    model, frames, history = (fits[best][k] for k in ("model", "frames", "history"))
    facts: dict[str, Any] = {
        # "model": the experiment's key, as train_mnist's and train_latent's summaries
        # name their variant (a config key: no metrics file repeats it)
        "model": name, "seed": seed, **summarize(history.steps), "steps": cfg.steps,
        "restarts": cfg.restarts, "selected_restart": best, "restart_obs_mse": obs_mses,
        "train_time_s": time.perf_counter() - start, "runtime": describe(device)}
    save_model(weights, model, dataclasses.asdict(cfg),
               meta={"mlflow_run_id": tracker.run_id or "",
                     IDENTITY: dict(run.identity(data_path).keys)})
    write_csv(log, [{"step": i + 1, **{k: r[k] for k in LOG_COLUMNS}}
                    for i, r in enumerate(history.steps)])
    write_json(summary, facts)
    save_arrays(snapshots, {"steps": np.array([s for s, _ in frames]),
                            "trajectories": np.stack([f for _, f in frames])})  # (S, N, 2)
    return model, facts


LOG_COLUMNS = ("loss", "nfe_forward", "nfe_backward", "lr")


@torch.no_grad()
def trajectory(model: nn.Module, data: dict[str, np.ndarray], solver: SolverConfig
               ) -> np.ndarray:
    """The model's trajectory from the true z0 over the observed and the held-out
    continuation times: (N + M, 2), float64."""
    device = next(model.parameters()).device
    as_t = lambda a: torch.tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    t_full = torch.cat([as_t(data["t"]), as_t(data["t_extra"])])  # (N+M,)
    return solve(model, as_t(data["true"][:1]), t_full, solver)[:, 0].double().cpu().numpy()


def evaluate(model: nn.Module, cfg: ToyTrainConfig, data: dict[str, np.ndarray]
             ) -> tuple[dict[str, Any], np.ndarray]:
    """Errors of the saved model against the noise-free trajectory (fit and held-out
    continuation) and the observations, and, for a linear model, against the true A.
    Returns (metrics, trajectory)."""
    traj = trajectory(model, data, cfg.solver)  # (N+M, 2)
    n = len(data["t"])
    metrics: dict[str, Any] = {
        "traj_mse": float(np.mean((traj[:n] - data["true"]) ** 2)),
        "obs_mse": float(np.mean((traj[:n] - data["obs"]) ** 2)),
        "extrap_mse": float(np.mean((traj[n:] - data["true_extra"]) ** 2))}
    if cfg.model == "linear":
        learned = model.A.detach().double().cpu().numpy()
        metrics["frobenius_error"] = float(np.linalg.norm(learned - data["A"]))
        metrics["learned_A"] = learned.round(6).tolist()
    return metrics, traj


def _fit_once(stage: str, cfg: ToyTrainConfig, data: dict[str, np.ndarray], seed: int,
              tracker: Tracker, device: torch.device, prefix: str) -> dict[str, Any]:
    seed_everything(seed)
    model = build_field(cfg, torch.Generator().manual_seed(seed)).to(device)
    as_t = lambda a: torch.tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    t, obs = as_t(data["t"]), as_t(data["obs"])  # (N,) (N, 2)
    rng = np.random.default_rng(seed)

    def batches(_: int):
        while True:
            idx = sample_span(data["t"], rng, cfg.min_span, cfg.max_span, cfg.max_points)
            yield torch.as_tensor(idx, device=device)

    def loss_fn(m: nn.Module, idx: Tensor) -> tuple[Tensor, dict[str, float]]:
        pred = solve(m, obs[idx[:1]], t[idx], cfg.solver)[:, 0]  # (T, 2)
        return torch.mean((pred - obs[idx]) ** 2), {}

    frames: list[tuple[int, np.ndarray]] = []
    every = max(1, cfg.steps // cfg.gif_frames)

    def on_step(step: int, row: dict[str, float]) -> None:
        tracker.log_metrics({prefix + k: v for k, v in row.items()}, step)
        if step % every == 0 or step == 1:
            frames.append((step, trajectory(model, data, cfg.solver)[: len(t)]))

    history = fit(model, loss_fn, batches, optim=cfg.optim, epochs=1, steps_per_epoch=cfg.steps,
                  on_step=on_step, desc=stage + (f" {prefix[:-1]}" if prefix else ""))
    return {"model": model, "traj": trajectory(model, data, cfg.solver), "frames": frames,
            "history": history}
