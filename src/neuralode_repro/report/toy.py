"""Report section: the toy dynamics fits of the tutorial notebook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..runs import grid, run
from . import provenance
from .blocks import Block, Figure, Heading, Para, Table
from .common import SMOKE, Claim, Reader, ReportConfig, fmt, is_smoke
from .stats import gated, interval, order_verdict

EXPERIMENTS = ("linear", "nonlinear")
FROBENIUS_OK = 0.1  # ours: the notebook reports no numbers to hold the fit to


def _col(runs: list, key: str) -> list[float]:
    return [m[key] for m in runs]  # (seeds,); a missing key names its file


def _show(values: list[float]) -> str:
    return interval(values).show(3)


def section(metrics: Reader, figures: Path, root: Path, cfg: ReportConfig,
            n_points: int | None = None, seeds: tuple[int, ...] = (0,),
            train: Any = None, data: Any = None) -> tuple[list[Block], list[Claim]]:
    """The toy fits over ``seeds`` (train_toy.seeds); ``n_points``: observations per
    trajectory (generate_data.toy). With the run's ``train`` and ``data``
    (ToySectionConfig, ToyDataConfig): where each setting comes from."""
    rows, blocks = [], [Heading("Toy dynamics (tutorial notebook)")]
    found = {(name, s): metrics.run(run("toy", name=name, seed=s))
             for name in EXPERIMENTS for s in seeds}
    for name in EXPERIMENTS:
        runs = [found[(name, s)] for s in seeds]
        frob = _show(_col(runs, "frobenius_error")) if "frobenius_error" in runs[0] else "–"
        rows.append((name, frob, _show(_col(runs, "traj_mse")),
                     _show(_col(runs, "extrap_mse")), fmt(runs[0]["steps"]),
                     *(fmt(interval(_col(runs, k)).mean)
                       for k in ("nfe_forward_mean", "nfe_backward_mean", "train_time_s"))))
    n = len(seeds)
    blocks += [
        Para("Each experiment learns dz/dt from "
             + (f"{n_points} " if n_points is not None else "")
             + "noisy observations of one trajectory with the adjoint method (paper "
             f"sec. 2), from {n} training seed{'s' if n != 1 else ''} (initialisation and "
             "sampled sub-spans; the observations are the same for every seed). Trajectory "
             "MSE is measured against the noise-free truth from z0; extrapolation MSE on "
             "the held-out continuation. NFE and training time are means over seeds."),
        Table(("experiment", "‖A − A_true‖_F", "trajectory MSE", "extrapolation MSE", "steps",
               "NFE-F", "NFE-B", "training time (s)"), tuple(rows))]
    for name in EXPERIMENTS:
        for fig, caption in (("trajectory.png", "true vs learned trajectory"),
                             ("vector_field.png", "true vs learned vector field")):
            path = figures / "toy" / name / fig
            if path.exists():
                blocks.append(Figure(path.relative_to(root),
                                     f"Toy {name}: {caption} (seed {seeds[0]})."))
    if train is not None and data is not None:
        lin, non = train.systems["linear"], train.systems["nonlinear"]
        blocks += provenance.table(provenance.TOY, {
            **provenance.flat(lin.solver), "systems": ", ".join(data.systems),
            "n_points": data.n_points, "noise_std": data.noise_std, "t_max": data.t_max,
            "z0": list(data.z0), "min_span": lin.min_span, "max_span": lin.max_span,
            "max_points": lin.max_points, "linear_steps": lin.steps,
            "restarts": lin.restarts, "nonlinear_steps": non.steps})
    frobs = [found[("linear", s)]["frobenius_error"] for s in seeds]  # (seeds,)
    conv = metrics.convergence(grid("toy", name=["linear"], seed=seeds), "budget", "step",
                               "traj_mse", cfg.delta_toy_mse)
    # the claim "the fit is within 0.1 of the true A": an ordering against a constant
    claims = [Claim("The adjoint method recovers the linear dynamics (notebook)",
                    f"‖A − A_true‖_F = {_show(frobs)}, below {FROBENIUS_OK} (ours) "
                    f"in {sum(f < FROBENIUS_OK for f in frobs)} of {n}",
                    SMOKE if is_smoke(list(found.values()), cfg)
                    else gated(order_verdict(frobs, [FROBENIUS_OK] * n), conv),
                    "trajectory MSE " + conv.show())]
    return blocks, claims
