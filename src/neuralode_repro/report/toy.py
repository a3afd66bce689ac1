"""Report section: the toy dynamics fits of the tutorial notebook."""

from __future__ import annotations

from pathlib import Path

from .blocks import Block, Figure, Heading, Para, Table
from .common import SMOKE, Claim, ReportConfig, fmt, is_smoke, read_json
from .stats import order_verdict

EXPERIMENTS = ("linear", "nonlinear")


def section(metrics: Path, figures: Path, root: Path, cfg: ReportConfig,
            n_points: int | None = None) -> tuple[list[Block], list[Claim]]:
    """The toy fits; ``n_points``: observations per trajectory (generate_data.toy)."""
    # no tolerances: the notebook reports no numbers; ‖A − A_true‖_F below 0.1 is ours
    rows, blocks = [], [Heading("Toy dynamics (tutorial notebook)")]
    found = {name: read_json(metrics / "toy" / f"{name}.json", f"evaluate_toy@{name}")
             for name in EXPERIMENTS}
    for name, m in found.items():
        frob = fmt(m["frobenius_error"]) if "frobenius_error" in m else "–"
        rows.append((name, frob, fmt(m["traj_mse"]), fmt(m["extrap_mse"]), fmt(m["steps"]),
                     fmt(m["nfe_forward_mean"]), fmt(m["nfe_backward_mean"]),
                     fmt(m["train_time_s"])))
    blocks += [
        Para("Each experiment learns dz/dt from "
             + (f"{n_points} " if n_points is not None else "")
             + "noisy observations of one trajectory with "
             "the adjoint method (paper sec. 2). Trajectory MSE is measured against the "
             "noise-free truth from z0; extrapolation MSE on the held-out continuation."),
        Table(("experiment", "‖A − A_true‖_F", "trajectory MSE", "extrapolation MSE", "steps",
               "NFE-F", "NFE-B", "training time (s)"), tuple(rows))]
    for name in EXPERIMENTS:
        for fig, caption in (("trajectory.png", "true vs learned trajectory"),
                             ("vector_field.png", "true vs learned vector field")):
            path = figures / "toy" / name / fig
            if path.exists():
                blocks.append(Figure(path.relative_to(root), f"Toy {name}: {caption}."))
    lin = found["linear"]
    claims = [Claim("The adjoint method recovers the linear dynamics (notebook)",
                    f"‖A − A_true‖_F = {fmt(lin['frobenius_error'])}",
                    SMOKE if is_smoke(list(found.values()), cfg)
                    else order_verdict([lin["frobenius_error"]], [0.1]))]
    return blocks, claims
