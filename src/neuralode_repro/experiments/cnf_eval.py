"""Evaluation of saved CNF / planar NF models (paper sec. 4.1, Figs. 4-5): the held-out
NLL (ml), KL(q || p) with log Z (capacity), the Fig. 4 aggregation over capacities, and
the arrays the figures draw, all computed from a model file's flow and config."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from neuralode import collect_stats

from ..config import SolverConfig, parse
from ..data.toy2d import PotentialConfig, Toy2DConfig, grid, log_normalizer
from ..io import read_json, write_csv, write_json
from ..models.cnf import PlanarCNF, nll_loss
from ..models.flows import Flow
from ..runs import cnf as cnf_run
from .budget import each_snapshot
from .cnf import CapacityEvalConfig, MLEvalConfig
from .cost import cumulative_flops, iteration_flops


@contextlib.contextmanager
def solver(model: Flow, cfg: SolverConfig) -> Iterator[Flow]:
    """``model`` integrated by ``cfg`` (a CNF; an NF has no solver), restored after."""
    if not isinstance(model, PlanarCNF):
        yield model
        return
    old, model.cnf.solver = model.cnf.solver, cfg
    try:
        yield model
    finally:
        model.cnf.solver = old


def _device(model: Flow) -> torch.device:
    return next(model.parameters()).device


def base_sample(model: Flow, n: int, seed: int) -> Tensor:
    """A fixed base sample (n, D), drawn on the CPU so it does not depend on the device."""
    g = torch.Generator().manual_seed(seed)
    return (model.base_std * torch.randn(n, model.dim, generator=g)).to(_device(model))


def ml_target(config: dict[str, Any]) -> Toy2DConfig:
    return parse(Toy2DConfig, config["target"], "cnf model file:config.target")


def capacity_target(config: dict[str, Any]) -> PotentialConfig:
    return parse(PotentialConfig, config["target"], "cnf model file:config.target")


def _check_task(config: dict[str, Any], task: str) -> None:
    if config.get("task") != task:
        raise ValueError(f"the model file is of task {config.get('task')!r}, not {task!r}; "
                         f"pass the model of a train_cnf_{task} stage")


def _test_points(config: dict[str, Any], ev: MLEvalConfig) -> Tensor:
    """The held-out points (N, 2), seeded apart from the training stream ([seed, 1])."""
    return ml_target(config).sample(ev.size, np.random.default_rng([config["seed"], 2]))


@torch.no_grad()
def evaluate_budget(model: Flow, config: dict[str, Any], snapshots: dict[str, Any],
                    ev: MLEvalConfig, log: Sequence[dict[str, Any]], batch_size: int
                    ) -> list[dict[str, float]]:
    """The budget axis of one ml run: the held-out NLL of each training snapshot (the
    first ``ev.budget_size`` test points, tight solver) with its iterations, training
    seconds and training FLOPs so far (:mod:`~neuralode_repro.experiments.cost`, from
    one iteration of ``batch_size`` points, measured here, and the run's training
    ``log``); rows of step, train_time_s, train_flops and test_nll."""
    _check_task(config, "ml")
    device = _device(model)
    test = _test_points(config, ev)[: ev.budget_size].to(device)
    # a training-sized batch from its own stream ([seed, 3]): the count needs shapes only
    batch = ml_target(config).sample(batch_size, np.random.default_rng([config["seed"], 3]))
    flops = cumulative_flops(log, *iteration_flops(model, nll_loss, batch.to(device)))
    rows = []
    for step, secs in each_snapshot(model, snapshots):
        if step not in flops:
            raise ValueError(f"the training log has no step {step} (it ends at step "
                             f"{max(flops, default=0)}), while a snapshot does: pass the log "
                             "and snapshots of one run (train_cnf writes both)")
        with solver(model, ev.solver):
            nll = -model.log_prob(test).mean().item()
        rows.append({"step": step, "train_time_s": secs, "train_flops": flops[step],
                     "test_nll": nll})
    return rows


@torch.no_grad()
def evaluate_ml(model: Flow, config: dict[str, Any], ev: MLEvalConfig) -> dict[str, Any]:
    """Paper Fig. 5: NLL (nats) of ``ev.size`` test points of the target, seeded apart
    from the training stream, by the tight ``ev.solver``; for a CNF also by its own
    training solver (that tolerance's bias, for the record). ``true_nll``: the same
    points' NLL under the true density, the floor (an estimate of the entropy)."""
    _check_task(config, "ml")
    model.eval()
    target = ml_target(config)
    test = _test_points(config, ev)  # (N, 2)
    metrics: dict[str, Any] = {"true_nll": -target.log_density(test).mean().item()}
    test = test.to(_device(model))
    if isinstance(model, PlanarCNF):
        metrics["test_nll_train_solver"] = -model.log_prob(test).mean().item()
    with solver(model, ev.solver), collect_stats() as stats:
        nll = -model.log_prob(test)  # (N,)
    return {**metrics, "test_nll": nll.mean().item(),
            "test_nll_se": nll.std().item() / math.sqrt(len(nll)),
            "test_nfe": stats.nfe_forward}


@torch.no_grad()
def evaluate_capacity(model: Flow, config: dict[str, Any], ev: CapacityEvalConfig,
                      final_loss: float) -> dict[str, Any]:
    """Paper Fig. 4: KL(q || p) = E_q[log q + U] + log Z over ``ev.size`` fixed base
    samples by ``ev.solver``; log Z on [-lim, lim]^2. ``final_loss`` (the training
    summary's, KL - log Z) becomes the training KL ``train_kl_final``."""
    _check_task(config, "capacity")
    model.eval()
    energy = capacity_target(config).energy()
    log_z = log_normalizer(energy, ev.lim, ev.log_z_grid)
    with solver(model, ev.solver), collect_stats() as stats:
        x, log_q = model.sample_with_log_prob(base_sample(model, ev.size,
                                                          config["seed"] + 3))
    gap = log_q + energy(x)  # (N,) log q - log p - log Z
    return {"final_kl": gap.mean().item() + log_z,
            "final_kl_se": gap.std().item() / math.sqrt(len(gap)),
            "log_z": log_z, "eval_nfe": stats.nfe_forward,
            "train_kl_final": final_loss + log_z}


def summarize_capacity(widths: Sequence[int], seeds: Sequence[int], runs_dir: Path,
                       out_json: Path, out_csv: Path) -> dict[str, Any]:
    """Paper Fig. 4 (d) data from the evaluated capacity runs in ``runs_dir``: the final
    KL per width, model and seed (lists in the order of ``seeds``, so CNF and NF pair
    up) to ``out_json``; the mean and range over seeds per width to the ``out_csv``
    table the figure draws."""
    kl: dict[str, dict[str, list[float]]] = {"cnf": {}, "nf": {}}  # kind -> width -> (S,)
    targets = set()
    for kind in ("cnf", "nf"):
        for w in widths:
            kl[kind][str(w)] = []
            for seed in seeds:
                run = cnf_run("capacity", kind, seed, width=w)
                path = runs_dir / run.file("metrics")
                if not path.exists():
                    raise FileNotFoundError(f"{path} not found; run the stage "
                                            f"{run.stage('evaluate')} first")
                kl[kind][str(w)].append(read_json(path)["final_kl"])
                # the config a run trained with is in its summary, not in its metrics
                targets.add(read_json(runs_dir / run.file("summary"))["target"])
    if len(targets) != 1:
        raise ValueError(f"{runs_dir}: the capacity runs have different targets "
                         f"{sorted(targets)}; rerun them (dvc repro)")
    mean = {k: {w: float(np.mean(v)) for w, v in kl[k].items()} for k in kl}
    # results only (metrics.py): widths, seeds and the target are in params.yaml
    summary = {"kl_cnf": kl["cnf"], "kl_nf": kl["nf"],
               "kl_cnf_mean": mean["cnf"], "kl_nf_mean": mean["nf"],
               "cnf_lower_count": sum(mean["cnf"][w] < mean["nf"][w] for w in mean["cnf"])}
    write_json(out_json, summary)
    write_csv(out_csv, [{"width": w, **{f"{k}{part}": f(kl[k][str(w)])
                                        for k in ("cnf", "nf")
                                        for part, f in (("", np.mean), ("_lo", min),
                                                        ("_hi", max))}}
                        for w in widths])
    return summary


# --- arrays of the figures (stage figures_cnf) ---------------------------------------

@torch.no_grad()
def transformation_arrays(model: Flow, config: dict[str, Any], fractions: Sequence[float],
                          samples: int, lim: float, n: int, cfg: SolverConfig
                          ) -> dict[str, np.ndarray]:
    """Paper Fig. 5 panels: ``samples`` base points moved to each fraction of the flow
    (S, N, 2), log q on the n x n grid of [-lim, lim]^2 at each (S, n, n), and target
    samples (N, 2), by solver ``cfg``."""
    seed = config["seed"]
    g, _ = grid(lim, n)
    with solver(model, cfg):
        xs, _ = model.snapshots(base_sample(model, samples, seed + 3), fractions)
        log_q = model.log_prob_snapshots(g.to(_device(model)), fractions)  # (S, n*n)
    target = ml_target(config).sample(samples, np.random.default_rng([seed, 4]))
    return {"samples": xs.cpu().numpy(), "log_q": log_q.view(-1, n, n).cpu().numpy(),
            "target": target.numpy()}


@torch.no_grad()
def density_arrays(model: Flow, config: dict[str, Any], samples: int, lim: float, n: int,
                   log_z: float, cfg: SolverConfig) -> dict[str, np.ndarray]:
    """Paper Fig. 4 (a)-(c) panels: target log p = -U - log Z and learned log q on the
    n x n grid of [-lim, lim]^2 (n, n), and ``samples`` samples of q (N, 2)."""
    energy = capacity_target(config).energy()
    g, _ = grid(lim, n)
    with solver(model, cfg):
        log_q = model.log_prob(g.to(_device(model))).view(n, n)
        x, _ = model.sample_with_log_prob(base_sample(model, samples, config["seed"] + 3))
    return {"log_p": (-energy(g) - log_z).view(n, n).numpy(),
            "log_q": log_q.cpu().numpy(), "samples": x.cpu().numpy()}
