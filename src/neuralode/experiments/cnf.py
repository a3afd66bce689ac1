"""Continuous normalizing flows vs planar normalizing flows (paper sec. 4.1, Figs. 4-5).

Two tasks, each a DVC matrix of single runs: ``ml`` (Fig. 5), maximum likelihood on 2-D
data for a planar CNF of M units and a planar NF of K layers, scored by the held-out NLL
(nats) of a fixed seeded test sample; ``capacity`` (Fig. 4), density matching by
minimising KL(q || p) toward p = exp(-U) / Z for K = M in ``widths``, compared by
:func:`summarize_capacity` (the paper: CNF generally reaches a lower loss).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from ..config import ConfigError, SolverConfig, num
from ..data.toy2d import PotentialConfig, Toy2DConfig, grid, log_normalizer
from ..figures import cnf as figs
from ..io import load_arrays, save_arrays, write_json, write_text
from ..models.cnf import FlowConfig, PlanarCNF, build_flow, kl_loss, nll_loss
from ..models.flows import Flow, check_fractions
from ..runtime import describe
from ..stats import collect_stats
from ..tracking import Tracker
from ..training import History, LossFn, OptimConfig, fit, seed_everything

Task = Literal["ml", "capacity"]
Kind = Literal["cnf", "nf"]


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """One model's training: the flow, Adam/RMSprop settings, iterations and batch."""

    model: FlowConfig
    steps: int = num(1000, ge=1)
    batch_size: int = num(512, ge=2)
    optim: OptimConfig = OptimConfig(name="adam", lr=1e-3)


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """After training: ``size`` test points (ml) or base samples (capacity), integrated
    by ``solver`` (tight: the training tolerance must not bias NLL/KL); figures show
    ``samples`` points and a ``grid``^2 density on [-lim, lim]^2 at each fraction."""

    size: int = num(4096, ge=2)
    solver: SolverConfig = SolverConfig(rtol=1e-6, atol=1e-6, adjoint=False)
    fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    samples: int = num(4096, ge=1)
    lim: float = num(2.0, gt=0)
    grid: int = num(80, ge=4)

    def validate(self) -> None:
        check_fractions(self.fractions)


@dataclasses.dataclass(frozen=True)
class MLConfig:
    """``train_cnf.ml``: maximum likelihood (paper Fig. 5); one run per target x model."""

    targets: dict[str, Toy2DConfig]
    cnf: TrainSpec
    nf: TrainSpec
    eval: EvalConfig = EvalConfig()


@dataclasses.dataclass(frozen=True)
class CapacityConfig:
    """``train_cnf.capacity``: density matching (paper Fig. 4), one run per model x width
    (M CNF units, K NF layers); log Z by a ``log_z_grid``^2 midpoint rule on the plot box."""

    target: PotentialConfig
    widths: tuple[int, ...] = num(ge=1)
    cnf: TrainSpec
    nf: TrainSpec
    eval: EvalConfig = EvalConfig(lim=4.0)
    log_z_grid: int = num(400, ge=10)

    def validate(self) -> None:
        if not self.widths or any(w < 1 for w in self.widths) \
                or list(self.widths) != sorted(set(self.widths)):
            raise ValueError(f"widths must be increasing positive integers, got {self.widths}")
        for kind in ("cnf", "nf"):
            if getattr(self, kind).model.width != FlowConfig().width:
                raise ValueError(f"{kind}.model.width is set per run from widths; remove it")


@dataclasses.dataclass(frozen=True)
class CNFTrainConfig:
    """``train_cnf``: both tasks; each model's ``kind`` must match its key."""

    ml: MLConfig
    capacity: CapacityConfig

    def validate(self) -> None:
        for task in ("ml", "capacity"):
            for kind in ("cnf", "nf"):
                if getattr(getattr(self, task), kind).model.kind != kind:
                    raise ValueError(f"{task}.{kind}.model.kind must be {kind!r}")


def run_name(task: Task, kind: Kind, *, target: str | None = None,
             width: int | None = None) -> str:
    """File stem of one run: ``<target>_<kind>`` (ml) or ``<kind>_<width>`` (capacity)."""
    return f"{target}_{kind}" if task == "ml" else f"{kind}_{width}"


def check_selection(cfg: CNFTrainConfig, task: Task, *, target: str | None,
                    width: int | None) -> None:
    """The stage's command-line selection must name a run of the params' matrix."""
    if task == "ml" and target not in cfg.ml.targets:
        raise ConfigError(f"train_cnf.ml.targets: no target {target!r}; "
                          f"have: {', '.join(cfg.ml.targets)}")
    if task == "capacity" and width not in cfg.capacity.widths:
        raise ConfigError(f"train_cnf.capacity.widths: {width!r} is not one of "
                          f"{list(cfg.capacity.widths)}")


def _train(model: Flow, spec: TrainSpec, loss_fn: LossFn, batches: Callable[[int], Any],
           tracker: Tracker, desc: str, curves: Path, offset: float | None = None
           ) -> tuple[History, dict[str, Any]]:
    """The shared loop; each iteration's loss and NFE go to the tracker with its step and
    to the ``curves`` CSV. ``offset`` (log Z) turns the loop's KL - log Z into KL."""
    def on_step(step: int, row: dict[str, float]) -> None:
        extra = {} if offset is None else {"kl_est": row["loss"] + offset}
        tracker.log_metrics({**row, **extra}, step)

    start = time.perf_counter()
    history = fit(model, loss_fn, batches, optim=spec.optim, epochs=1,
                  steps_per_epoch=spec.steps, on_step=on_step, desc=desc)
    wall, rows = time.perf_counter() - start, history.steps
    lines = [f"{i + 1},{r['loss']:.6g},{r['nfe_forward']},{r['nfe_backward']}"
             + ("" if offset is None else f",{r['loss'] + offset:.6g}")
             for i, r in enumerate(rows)]
    head = "step,loss,nfe_forward,nfe_backward" + ("" if offset is None else ",kl")
    write_text(curves, "\n".join([head, *lines]) + "\n")
    tail = max(1, len(rows) // 10)  # "final": the mean over the last 10% of iterations
    return history, {
        "train_loss_final": float(np.mean([r["loss"] for r in rows[-tail:]])),
        "nfe_forward_mean": history.mean("nfe_forward"),
        "nfe_backward_mean": history.mean("nfe_backward"),
        "nfe_forward_final": float(np.mean([r["nfe_forward"] for r in rows[-tail:]])),
        "wall_time_s": wall, "iter_time_s": wall / len(rows),
        "steps": spec.steps, "batch_size": spec.batch_size}


def _base(model: Flow, n: int, seed: int, device: torch.device) -> Tensor:
    """A fixed base sample (n, D), drawn on the CPU so it does not depend on the device."""
    g = torch.Generator().manual_seed(seed)
    return (model.base_std * torch.randn(n, model.dim, generator=g)).to(device)


def run(task: Task, kind: Kind, cfg: CNFTrainConfig, *, seed: int, tracker: Tracker,
        metrics_dir: Path, figures_dir: Path, target: str | None = None,
        width: int | None = None, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Train one run of ``task`` and write ``<name>.json``, ``<name>_loss.csv`` (and for
    capacity ``<name>_density.npz``) to ``metrics_dir`` and its figures to
    ``figures_dir``; the trained state dict goes to the tracker."""
    check_selection(cfg, task, target=target, width=width)
    stem = metrics_dir / run_name(task, kind, target=target, width=width)
    device = torch.device(device)
    if task == "ml":
        metrics, model = _run_ml(cfg.ml, kind, str(target), seed, tracker, stem, figures_dir,
                                 device)
    else:
        metrics, model = _run_capacity(cfg.capacity, kind, int(width or 0), seed, tracker,
                                       stem, figures_dir, device)
    metrics["runtime"] = describe(device)
    write_json(Path(f"{stem}.json"), metrics)
    tracker.log_state_dict(model)
    return metrics


def _run_ml(cfg: MLConfig, kind: Kind, target: str, seed: int, tracker: Tracker,
            stem: Path, figures_dir: Path, device: torch.device
            ) -> tuple[dict[str, Any], Flow]:
    """Maximum likelihood, paper sec. 4.1 / Fig. 5: minimise -E_data[log q(x)]."""
    data, spec, ev = cfg.targets[target], getattr(cfg, kind), cfg.eval
    seed_everything(seed)
    model = build_flow(spec.model).to(device)
    rng = np.random.default_rng([seed, 1])  # the training stream
    test = data.sample(ev.size, np.random.default_rng([seed, 2])).to(device)  # (N, 2), fixed

    def batches(_: int) -> Iterator[Tensor]:
        while True:
            yield data.sample(spec.batch_size, rng).to(device)  # (B, 2)

    history, summary = _train(model, spec, nll_loss, batches, tracker,
                              f"train_cnf {target} {kind}", Path(f"{stem}_loss.csv"))
    model.eval()
    metrics: dict[str, Any] = {"task": "ml", "target": target, "model": kind,
                               "width": spec.model.width, **summary}
    with torch.no_grad():
        if isinstance(model, PlanarCNF):  # the training tolerance's bias, for the record
            metrics["test_nll_train_solver"] = -model.log_prob(test).mean().item()
            model.cnf.solver = ev.solver
        with collect_stats() as stats:
            nll = -model.log_prob(test)  # (N,)
        metrics.update(test_nll=nll.mean().item(),
                       test_nll_se=nll.std().item() / math.sqrt(len(nll)),
                       test_nfe=stats.nfe_forward)
        xs, _ = model.snapshots(_base(model, ev.samples, seed + 3, device), ev.fractions)
        g, _ = grid(ev.lim, ev.grid)
        log_q = model.log_prob_snapshots(g.to(device), ev.fractions)  # (S, n*n)
    title = f"{target}: {kind.upper()} ({'M' if kind == 'cnf' else 'K'} = {spec.model.width})"
    figs.transformation(xs.cpu().numpy(), log_q.view(-1, ev.grid, ev.grid).cpu().numpy(),
                        [f"t = {f * model.t1:.3g}" if isinstance(model, PlanarCNF)
                         else f"k = {round(f * spec.model.width)}" for f in ev.fractions],
                        data.sample(ev.samples, np.random.default_rng([seed, 4])).numpy(),
                        ev.lim, title, figures_dir / "transformation.png")
    figs.training_curves(history.steps, "NLL (nats)", title, figures_dir / "training.png")
    return metrics, model


def _run_capacity(cfg: CapacityConfig, kind: Kind, width: int, seed: int, tracker: Tracker,
                  stem: Path, figures_dir: Path, device: torch.device
                  ) -> tuple[dict[str, Any], Flow]:
    """Density matching, paper sec. 4.1 / Fig. 4: minimise KL(q || p) = E_q[log q + U]
    + log Z over base samples; the loop sees KL - log Z, metrics add log Z back."""
    spec, ev = getattr(cfg, kind), cfg.eval
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, width=width))
    energy = cfg.target.energy()
    log_z = log_normalizer(energy, ev.lim, cfg.log_z_grid)
    seed_everything(seed)  # the global torch RNG draws the training base samples
    model = build_flow(spec.model).to(device)

    def batches(_: int) -> Iterator[Tensor]:
        while True:
            yield model.sample_base(spec.batch_size)  # (B, 2)

    loss_fn = functools.partial(kl_loss, energy=energy)
    history, summary = _train(model, spec, loss_fn, batches, tracker,
                              f"train_cnf capacity {kind} {width}",
                              Path(f"{stem}_loss.csv"), offset=log_z)
    model.eval()
    if isinstance(model, PlanarCNF):
        model.cnf.solver = ev.solver
    g, _ = grid(ev.lim, ev.grid)
    with torch.no_grad():
        with collect_stats() as stats:
            x, log_q = model.sample_with_log_prob(_base(model, ev.size, seed + 3, device))
        gap = log_q + energy(x)  # (N,) log q - log p - log Z
        grid_q = model.log_prob(g.to(device)).view(ev.grid, ev.grid)  # (n, n)
    metrics: dict[str, Any] = {
        "task": "capacity", "model": kind, "width": width, "target": cfg.target.name,
        "final_kl": gap.mean().item() + log_z,
        "final_kl_se": gap.std().item() / math.sqrt(len(gap)),
        "log_z": log_z, "eval_nfe": stats.nfe_forward, **summary}
    metrics["train_kl_final"] = metrics.pop("train_loss_final") + log_z
    grid_p = (-energy(g) - log_z).view(ev.grid, ev.grid)
    save_arrays(Path(f"{stem}_density.npz"),
                {"log_q": grid_q.cpu().numpy(), "log_p": grid_p.numpy(),
                 "lim": np.array(ev.lim)})
    title = (f"{cfg.target.name}: {kind.upper()}, {'M' if kind == 'cnf' else 'K'} = {width}, "
             f"KL = {metrics['final_kl']:.3f}")
    figs.density_match(grid_p.numpy(), grid_q.cpu().numpy(),
                       x[: ev.samples].cpu().numpy(), ev.lim, title,
                       figures_dir / "density.png")
    figs.training_curves(history.steps, "KL(q || p) estimate (nats)", title,
                         figures_dir / "training.png", offset=log_z)
    return metrics, model


def summarize_capacity(cfg: CapacityConfig, runs_dir: Path, metrics_dir: Path,
                       figures_dir: Path) -> dict[str, Any]:
    """Paper Fig. 4 from the capacity runs in ``runs_dir``: ``capacity.json`` and ``.csv``
    (KL per width) to ``metrics_dir``, loss-vs-capacity and density grid to ``figures_dir``."""
    kl: dict[str, list[float]] = {"cnf": [], "nf": []}
    se, grids = {"cnf": [], "nf": []}, {"nf": [], "cnf": []}  # NF row first, as in Fig. 4
    for kind, w in ((k, w) for k in ("cnf", "nf") for w in cfg.widths):
        stem = runs_dir / run_name("capacity", kind, width=w)
        if not Path(f"{stem}.json").exists():
            raise FileNotFoundError(f"{stem}.json not found; run the stage "
                                    f"train_cnf_capacity@{kind}-{w} first")
        m = json.loads(Path(f"{stem}.json").read_text())
        kl[kind].append(m["final_kl"])
        se[kind].append(m["final_kl_se"])
        arrays = load_arrays(Path(f"{stem}_density.npz"))
        grids[kind].append(arrays["log_q"])
    summary = {"widths": list(cfg.widths), "target": cfg.target.name,
               "kl_cnf": dict(zip(map(str, cfg.widths), kl["cnf"], strict=True)),
               "kl_nf": dict(zip(map(str, cfg.widths), kl["nf"], strict=True)),
               "cnf_lower_count": sum(c < n for c, n in zip(kl["cnf"], kl["nf"], strict=True))}
    write_json(metrics_dir / "capacity.json", summary)
    rows = zip(cfg.widths, kl["cnf"], kl["nf"], strict=True)
    write_text(metrics_dir / "capacity.csv",
               "width,cnf,nf\n" + "".join(f"{w},{c:.6g},{n:.6g}\n" for w, c, n in rows))
    figs.capacity_losses(cfg.widths, kl, se, figures_dir / "loss_vs_capacity.png")
    figs.capacity_grid(arrays["log_p"], grids, cfg.widths, cfg.eval.lim,
                       figures_dir / "densities.png")
    return summary
