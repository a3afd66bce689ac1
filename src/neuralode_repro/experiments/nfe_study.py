"""Statistics of a trained ODE-Net, paper Figure 3 (sec. 3):

(a) forward NFE against the numerical error of z(t1), sweeping the solver tolerance
    (error against a tight-tolerance float64 reference solution);
(b) wall time of the forward solve against forward NFE (same sweep);
(c) backward NFE against forward NFE, per training iteration (training log);
(d) forward NFE against training epoch (training log).

The paper found time proportional to NFE, NFE-B about half of NFE-F (with scipy's
VODE in Adams mode) and NFE rising during training. The tolerance sweep integrates
only the ODE block, on the downsampled features of a fixed test subset, with
rtol = atol = tol, once per solver family in ``methods`` (the model's own first).
Panel (c) has a second measurement besides the training log: on the trained model,
NFE-B / NFE-F of one adjoint gradient of the test loss per method and tolerance, so
that the report can say whether any solver family gives the paper's 1/2. Both come
with NFE-F "as counted" by a counter that is not reset between a backward pass and the
next forward (it then adds the previous NFE-B): the hypothesis of issue 33, from
per-batch counts a third-party replication attributes to the original Figure 3 logs,
whose forward counts are about 2 x backward + 1.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from neuralode import SolverStats, collect_stats, odeint, odeint_adjoint
from neuralode.solvers import is_adaptive, solver_names

from ..config import SEED_MAX, ConfigError, SolverConfig, num
from ..data.mnist import MnistDataConfig, mnist_datasets, mnist_loaders
from ..io import write_csv, write_json
from ..models.mnist import ODEBlock, evaluate
from ..runtime import describe
from .mnist import SavedModel
from .tight import solved_by


@dataclasses.dataclass(frozen=True)
class NfeStudyConfig:
    """``nfe_study``: the trained run ``<model>-s<seed>`` of train_mnist; the sweep uses
    ``test_subset`` test images, ``tolerances`` (rtol = atol) against a float64
    reference at ``reference_tol``; each solve is timed ``repeats`` times (median).
    ``methods``: the adaptive solver families swept (the model's own is added first if
    missing); ``ratio_tolerances``: where NFE-B / NFE-F is measured per method.
    ``tight_tol``: the model's test error again with every solve at rtol = atol =
    tight_tol, beside its training solver, on ``tight_test_subset`` test images (None:
    all 10,000), in batches of ``tight_batch``."""

    model: str = "odenet"
    seed: int = num(0, ge=0, le=SEED_MAX)
    tolerances: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    reference_tol: float = num(1e-8, gt=0)
    test_subset: int = num(256, gt=0)
    repeats: int = num(3, ge=1)
    max_num_steps: int = num(100_000, gt=0)
    methods: tuple[str, ...] = ("dopri5", "adams", "vode_adams")
    ratio_tolerances: tuple[float, ...] = (1e-3, 1e-5, 1e-7)
    tight_tol: float = num(1e-6, gt=0, le=1)
    tight_test_subset: int | None = num(None, gt=0)
    tight_batch: int = num(500, gt=0)

    def validate(self) -> None:
        from ..vode import register

        register()  # vode_adams, one of the methods it may compare

        names = solver_names()
        bad = [m for m in self.methods if m not in names or not is_adaptive(m)]
        if bad or not self.methods or len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods: expected distinct adaptive solvers among "
                             f"{[n for n in names if is_adaptive(n)]}, got {list(self.methods)}")
        if not self.ratio_tolerances or any(not 0 < t <= 1 for t in self.ratio_tolerances):
            raise ValueError(f"ratio_tolerances: expected values in (0, 1], got "
                             f"{list(self.ratio_tolerances)}")
        if len(self.tolerances) < 3 or any(not 0 < t <= 1 for t in self.tolerances):
            raise ValueError(f"tolerances: expected at least 3 values in (0, 1], got "
                             f"{list(self.tolerances)} (a line fit needs 3 points)")
        if self.reference_tol >= min(self.tolerances):
            raise ValueError(f"reference_tol={self.reference_tol} must be below the smallest "
                             f"tolerance {min(self.tolerances)}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference(block: ODEBlock, z0: Tensor, cfg: NfeStudyConfig) -> Tensor:
    """z(t1) in float64 at ``reference_tol`` with dopri5, the one reference that every
    method's error is measured against: (B, C, H, W)."""
    t = torch.tensor([0.0, block.t1], dtype=torch.float64, device=z0.device)
    ref_func = copy.deepcopy(block.func).double()
    with torch.no_grad():
        return odeint(ref_func, z0.double(), t, method="dopri5", rtol=cfg.reference_tol,
                      atol=cfg.reference_tol, options={"max_num_steps": cfg.max_num_steps})[-1]


def tolerance_sweep(block: ODEBlock, z0: Tensor, cfg: NfeStudyConfig, method: str,
                    ref: Tensor) -> tuple[list[dict[str, Any]], Tensor]:
    """One row per tolerance (NFE-F, relative RMS error vs ``ref``, median seconds)
    and the float32 outputs z(t1) of each, shaped (n_tol, B, C, H, W)."""
    t = torch.tensor([0.0, block.t1], device=z0.device)
    opts = {"max_num_steps": cfg.max_num_steps}
    with torch.no_grad():
        rows, outs = [], []
        for tol in cfg.tolerances:
            seconds = []
            for _ in range(cfg.repeats):
                stats = SolverStats()
                _sync(z0.device)
                t0 = time.perf_counter()
                z1 = odeint(block.func, z0, t, method=method, rtol=tol, atol=tol,
                            options=opts, stats=stats)[-1]
                _sync(z0.device)
                seconds.append(time.perf_counter() - t0)
            err = (torch.linalg.vector_norm(z1.double() - ref)
                   / torch.linalg.vector_norm(ref)).item()
            rows.append({"method": method, "tol": tol, "nfe_forward": stats.nfe_forward,
                         "error": err, "time_s": statistics.median(seconds)})
            outs.append(z1)
    return rows, torch.stack(outs)


def backward_ratios(model: torch.nn.Module, z0: Tensor, y: Tensor, cfg: NfeStudyConfig,
                    method: str) -> list[dict[str, Any]]:
    """NFE-F and NFE-B of one adjoint gradient of the test cross-entropy (Fig. 3c on
    the trained model), per tolerance of ``ratio_tolerances``: the ODE block solved
    with ``method`` forward and backward, rtol = atol = tol."""
    block = model.features
    t = torch.tensor([0.0, block.t1], device=z0.device)
    opts = {"max_num_steps": cfg.max_num_steps}
    rows = []
    for tol in cfg.ratio_tolerances:
        stats = SolverStats()
        with torch.enable_grad():
            z1 = odeint_adjoint(block.func, z0, t, method=method, rtol=tol, atol=tol,
                                options=opts, stats=stats)[-1]
            loss = torch.nn.functional.cross_entropy(model.head(z1), y)
            torch.autograd.grad(loss, list(block.func.parameters()))
        f, b = stats.nfe_forward, stats.nfe_backward
        # as counted: one gradient after another of the same cost, the forward counter
        # still holding the previous backward pass's evaluations
        rows.append({"method": method, "tol": tol, "nfe_forward": f, "nfe_backward": b,
                     "ratio": b / max(f, 1), "ratio_as_counted": b / max(f + b, 1)})
    return rows


@torch.no_grad()
def tight_error(model: torch.nn.Module, solver: SolverConfig, loader: DataLoader, tol: float
                ) -> dict[str, Any]:
    """Test error (%) and forward NFE per batch of ``model`` on ``loader``'s images with
    its training ``solver``, and again with every solve at rtol = atol = ``tol`` (issue
    33: a result that holds only at the training tolerance is the solver's)."""
    out: dict[str, Any] = {}
    tight = dataclasses.replace(solver, rtol=tol, atol=tol, adjoint=False)
    for key, ctx in (("train_solver", contextlib.nullcontext(0)), ("tight",
                                                                   solved_by(model, tight))):
        with ctx, collect_stats() as stats:
            out[f"test_error_{key}"] = evaluate(model, loader)
        out[f"test_nfe_forward_{key}"] = stats.nfe_forward / len(loader)
    return out


def linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares y = a + b x: (a, b, R^2); R^2 is nan when x or y is constant."""
    if len(x) < 2 or np.ptp(x) == 0:
        return float(np.mean(y)), 0.0, float("nan")
    b, a = np.polyfit(x, y, 1)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1 - float(np.sum((y - a - b * x) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    return float(a), float(b), r2


def read_log(path: Path) -> dict[str, np.ndarray]:
    """Columns of a train_mnist per-iteration log (``<run>_log.csv``)."""
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `dvc repro` so train_mnist writes it")
    data = np.genfromtxt(path, delimiter=",", names=True, ndmin=1)
    return {k: np.asarray(data[k], dtype=float) for k in data.dtype.names}


def training_stats(log: dict[str, np.ndarray]) -> dict[str, Any]:
    """Fig. 3c/d numbers from the training log; also the per-iteration series."""
    f, b, epoch = log["nfe_forward"], log["nfe_backward"], log["epoch"].astype(int)
    # fractional epoch of each iteration: epoch - 1 + (index within epoch + 1) / count
    frac = np.empty_like(f)
    means: dict[int, float] = {}
    for e in np.unique(epoch):
        idx = np.flatnonzero(epoch == e)
        frac[idx] = e - 1 + (np.arange(len(idx)) + 1) / len(idx)
        means[int(e)] = float(f[idx].mean())
    ok = f > 0
    _, slope, _ = linear_fit(frac, f)
    counted = f + np.concatenate([[0.0], b[:-1]])  # + the backward pass before it
    return {
        "nfe_backward_over_forward_mean": float(np.mean(b[ok] / f[ok])) if ok.any() else 0.0,
        "nfe_backward_over_forward_as_counted_mean":
            float(np.mean(b[ok] / counted[ok])) if ok.any() else 0.0,
        "nfe_backward_over_forward_ls": float(f @ b / (f @ f)) if ok.any() else 0.0,
        "nfe_forward_slope_per_epoch": slope,
        "nfe_forward_first_epoch": means[min(means)],
        "nfe_forward_last_epoch": means[max(means)],
        # a list (epoch 1 first), not a mapping: dvc would show one column per epoch
        "nfe_forward_epoch_means": [means[e] for e in sorted(means)],
        "_frac": frac, "_means": means,
    }


def run(cfg: NfeStudyConfig, saved: SavedModel, log_path: Path, data_root: Path, *,
        json_path: Path, csv_path: Path) -> dict[str, Any]:
    """Figure 3's numbers (a-d): write the study's JSON and the sweep's CSV;
    the figures_mnist stage draws the four panels from them and the training log."""
    model, model_cfg, run_cfg, meta = saved
    name = str(meta.get("run", model_cfg.kind))  # e.g. odenet-s0
    device = next(model.parameters()).device
    method = model_cfg.solver.method
    if not isinstance(model.features, ODEBlock) or not is_adaptive(method):
        raise ConfigError(f"nfe_study.model: {name} is a {model_cfg.kind} with "
                          f"solver {method!r}; the study needs an ODE-Net/RK-Net with an "
                          "adaptive solver (e.g. dopri5)")
    data_cfg = MnistDataConfig(augment=False, normalize=run_cfg["data"]["normalize"],
                               test_subset=cfg.test_subset)
    _, test = mnist_datasets(data_root, data_cfg, seed=cfg.seed)
    x = torch.stack([test[i][0] for i in range(len(test))]).to(device)  # (B, 1, 28, 28)
    y = torch.tensor([test[i][1] for i in range(len(test))], device=device)  # (B,)
    with torch.no_grad():
        z0 = model.downsample(x)  # (B, C, h, w)
    ref = reference(model.features, z0, cfg)
    methods = [method] + [m for m in cfg.methods if m != method]
    by_method: dict[str, dict[str, Any]] = {}
    all_rows: list[dict[str, Any]] = []
    for m in methods:
        rows, outs = tolerance_sweep(model.features, z0, cfg, m, ref)
        with torch.no_grad():
            for row, z1 in zip(rows, outs, strict=True):
                row["test_error"] = 100.0 * float((model.head(z1).argmax(1) != y).float().mean())
        nfe = np.array([r["nfe_forward"] for r in rows], dtype=float)
        a, b_fit, r2 = linear_fit(nfe, np.array([r["time_s"] for r in rows]))
        ratios = backward_ratios(model, z0, y, cfg, m)
        by_method[m] = {
            "sweep": rows,  # one row per tolerance, in the order of cfg.tolerances
            # wall-clock numbers: the "_s" suffix marks them as machine-dependent
            "time_vs_nfe_s": {"ms_per_nfe": 1000 * b_fit, "intercept_ms": 1000 * a, "r2": r2},
            "nfe_forward_range": [int(nfe.min()), int(nfe.max())],
            "backward_over_forward": ratios,
            "backward_over_forward_range": [min(r["ratio"] for r in ratios),
                                            max(r["ratio"] for r in ratios)],
        }
        all_rows += rows
    tight_data = dataclasses.replace(data_cfg, test_subset=cfg.tight_test_subset,
                                     test_batch_size=cfg.tight_batch)
    _, tight_loader = mnist_loaders(data_root, tight_data, seed=cfg.seed)
    tight = tight_error(model, model_cfg.solver, tight_loader, cfg.tight_tol)
    log = read_log(log_path)
    train = training_stats(log)
    metrics: dict[str, Any] = {
        "test_images": len(test),  # results only (metrics.py): the setup is in params
        **tight, "tight_test_images": len(tight_loader.dataset),  # type: ignore[arg-type]
        **{k: v for k, v in by_method[method].items() if k != "backward_over_forward"},
        **{k: v for k, v in train.items() if not k.startswith("_")},
        "by_method": by_method,
        "runtime": describe(device),
    }
    write_csv(csv_path, all_rows, TOLERANCE_COLUMNS)
    write_json(json_path, metrics)
    return metrics


TOLERANCE_COLUMNS = ("method", "tol", "nfe_forward", "error", "time_s", "test_error")
