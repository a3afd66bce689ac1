"""Toy dynamics fits (the tutorial notebook's experiments): learn dz/dt from noisy
observations of one trajectory with the adjoint method (paper sec. 2)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ..config import ConfigError, SolverConfig, num
from ..data.toy import sample_span, true_field
from ..figures import toy as figs
from ..io import load_arrays, write_json, write_text
from ..models.toy import LinearField, MLPField
from ..odeint import odeint, solve
from ..runtime import describe
from ..tracking import Tracker
from ..training import OptimConfig, fit, seed_everything


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


def load_data(folder: Path, name: str) -> dict[str, np.ndarray]:
    """``folder/<name>.npz``, written by generate_data for the system of that name."""
    path = folder / f"{name}.npz"
    if not path.exists():
        have = sorted(p.stem for p in folder.glob("*.npz")) if folder.is_dir() else []
        if have:
            raise ConfigError(f"train_toy.{name}: no toy system {name!r} in "
                              f"generate_data.toy.systems (generated: {', '.join(have)}); "
                              f"add it there or remove train_toy.{name}")
        raise FileNotFoundError(f"{path} not found; run `dvc repro` so generate_data "
                                "writes it first")
    return load_arrays(path)


def build_field(cfg: ToyTrainConfig, generator: torch.Generator) -> nn.Module:
    if cfg.model == "linear":
        return LinearField.random(2, cfg.init_std, generator)
    return MLPField(2, cfg.hidden)


def _numpy_field(field: nn.Module, dtype: torch.dtype):
    def fn(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return field(torch.zeros(()), torch.as_tensor(z, dtype=dtype)).double().numpy()
    return fn


def run(name: str, cfg: ToyTrainConfig, data: dict[str, np.ndarray], *, seed: int,
        tracker: Tracker, metrics_dir: Path, figures_dir: Path,
        device: torch.device | None = None) -> dict[str, Any]:
    """Train one toy experiment and write its metrics, loss curve and figures."""
    device = device or torch.device("cpu")
    if cfg.max_span >= float(data["t"][-1]):
        raise ValueError(f"train_toy.{name}.max_span={cfg.max_span} must be below the "
                         f"observed span t_max={float(data['t'][-1])}")
    start = time.perf_counter()
    fits = [_fit_once(name, cfg, data, seed + 1000 * k, tracker, device,
                      prefix=f"restart{k}/" if cfg.restarts > 1 else "")
            for k in range(cfg.restarts)]
    obs_mses = [float(np.mean((f["traj"][: len(data["t"])] - data["obs"]) ** 2)) for f in fits]
    best = int(np.argmin(obs_mses))
    model, traj, frames, history = (fits[best][k] for k in ("model", "traj", "frames", "history"))
    n = len(data["t"])
    metrics: dict[str, Any] = {
        "traj_mse": float(np.mean((traj[:n] - data["true"]) ** 2)),
        "obs_mse": obs_mses[best],
        "extrap_mse": float(np.mean((traj[n:] - data["true_extra"]) ** 2)),
        "final_loss": float(np.mean([r["loss"] for r in history.steps[-50:]])),
        "nfe_forward_mean": history.mean("nfe_forward"),
        "nfe_backward_mean": history.mean("nfe_backward"),
        "steps": cfg.steps, "restarts": cfg.restarts, "selected_restart": best,
        "restart_obs_mse": obs_mses, "wall_time_s": time.perf_counter() - start,
        "runtime": describe(device),
    }
    if cfg.model == "linear":
        learned = model.A.detach().double().cpu().numpy()
        metrics["frobenius_error"] = float(np.linalg.norm(learned - data["A"]))
        metrics["learned_A"] = learned.round(6).tolist()
    _write_outputs(name, data, model, traj, frames, history, metrics,
                   metrics_dir, figures_dir)
    tracker.log_state_dict(model)
    return metrics


def _fit_once(name: str, cfg: ToyTrainConfig, data: dict[str, np.ndarray], seed: int,
              tracker: Tracker, device: torch.device, prefix: str) -> dict[str, Any]:
    seed_everything(seed)
    model = build_field(cfg, torch.Generator().manual_seed(seed)).to(device)
    as_t = lambda a: torch.tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    t, obs, z0 = as_t(data["t"]), as_t(data["obs"]), as_t(data["true"][:1])  # (N,) (N,2) (1,2)
    t_full = torch.cat([t, as_t(data["t_extra"])])
    rng = np.random.default_rng(seed)

    def batches(_: int):
        while True:
            idx = sample_span(data["t"], rng, cfg.min_span, cfg.max_span, cfg.max_points)
            yield torch.as_tensor(idx, device=device)

    def loss_fn(m: nn.Module, idx: Tensor) -> tuple[Tensor, dict[str, float]]:
        pred = solve(m, obs[idx[:1]], t[idx], cfg.solver)[:, 0]  # (T, 2)
        return torch.mean((pred - obs[idx]) ** 2), {}

    def trajectory() -> np.ndarray:
        with torch.no_grad():
            kw = cfg.solver.kwargs()
            kw.pop("seminorm", None)
            return odeint(model, z0, t_full, **kw)[:, 0].double().cpu().numpy()  # (N+M, 2)

    frames: list[tuple[int, np.ndarray]] = []
    every = max(1, cfg.steps // cfg.gif_frames)

    def on_step(step: int, row: dict[str, float]) -> None:
        tracker.log_metrics({prefix + k: v for k, v in row.items()}, step)
        if step % every == 0 or step == 1:
            frames.append((step, trajectory()[: len(t)]))

    history = fit(model, loss_fn, batches, optim=cfg.optim, epochs=1, steps_per_epoch=cfg.steps,
                  on_step=on_step, desc=f"train_toy@{name}" + (f" {prefix[:-1]}" if prefix else ""))
    return {"model": model, "traj": trajectory(), "frames": frames, "history": history}


def _write_outputs(name, data, model, traj, frames, history, metrics, metrics_dir,
                   figures_dir) -> None:
    n = len(data["t"])
    rows = ["step,loss,nfe_forward,nfe_backward"] + [
        f"{i + 1},{r['loss']:.6g},{r['nfe_forward']},{r['nfe_backward']}"
        for i, r in enumerate(history.steps)]
    write_text(metrics_dir / f"{name}_loss.csv", "\n".join(rows) + "\n")
    write_json(metrics_dir / f"{name}.json", metrics)
    figs.observations(data["t"], data["obs"], figures_dir / "observations.png")
    figs.trajectories(data["t"], data["obs"], data["true"], traj[:n], data["t_extra"],
                      data["true_extra"], traj[n:], figures_dir / "trajectory.png")
    lo, hi = data["true"].min(axis=0) - 0.5, data["true"].max(axis=0) + 0.5
    figs.vector_fields(_numpy_field(true_field(data), torch.float64),
                       _numpy_field(model.cpu(), torch.float32), (lo[0], hi[0], lo[1], hi[1]),
                       figures_dir / "vector_field.png")
    figs.training_gif(data["obs"], data["true"], frames, figures_dir / "training.gif")
