"""Report part: Table 2's RNN baseline in both of the paper's variants (with and
without the time gap as input; sec. 5.1 does not say which one Table 2 reports), its
trend with the number of observations n, and where its error comes from (issue 33)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..runs import grid
from .blocks import Block, Heading, Para, Table
from .common import Convergence, Reader, ReportConfig
from .paper import TABLE2
from .stats import interval

INPUTS = {"gap": "x and the time gap", "none": "x alone"}


def part(metrics: Reader, cfg: ReportConfig, variants: Sequence[str], n_obs: Sequence[int],
         seeds: Sequence[int], known: Mapping[tuple[str, int], Convergence] | None = None
         ) -> list[Block]:
    """One row per RNN variant (a ``train_latent.models`` key whose class is the RNN)
    and n: predictive RMSE, the same future points predicted with the true previous
    value fed at each step (teacher-forced), the error of the last tenth of the future
    and the rollout steps to reach it; then each variant's trend from the smallest to
    the largest n, against the paper's RNN. ``known``: the convergence of runs the
    caller has judged already, by (variant, n)."""
    known = known or {}
    runs = {(v, n): [metrics.run(r) for r in grid("latent", model=[v], n_obs=[n], seed=seeds)]
            for v in variants for n in n_obs}
    rnns = [v for v in variants if runs[(v, n_obs[0])][0]["model_class"] == "rnn"]
    if not rnns:
        return []
    rows, trends = [], []
    for v in rnns:
        for n in n_obs:
            rs = runs[(v, n)]  # (seeds,)
            conv = known.get((v, n)) or metrics.convergence(
                grid("latent", model=[v], n_obs=[n], seed=seeds), "budget", "step",
                "pred_rmse", cfg.delta_rmse)
            rows.append((v, INPUTS[rs[0]["time_input"]], str(n),
                         interval([r["pred_rmse"] for r in rs]).show(3),
                         interval([r["teacher_forced_future_rmse"] for r in rs]).show(3),
                         interval([r["rollout_rmse_by_step"][-1] for r in rs]).show(3),
                         f"{rs[0]['rollout_steps_by_bin'][-1]:.0f}",
                         interval([r["recon_rmse"] for r in rs]).show(3), conv.show()))
        lo, hi = (interval([r["pred_rmse"] for r in runs[(v, n)]]).mean
                  for n in (n_obs[0], n_obs[-1]))
        trends.append(f"{v} {lo:.3g} → {hi:.3g} ({'falls' if hi < lo else 'rises'})")
    paper = TABLE2["rnn"]
    ends = (n_obs[0], n_obs[-1])
    return [
        Heading("The RNN baseline: both variants, and where its error comes from", 3),
        Para("The paper's appendix describes an RNN with the time gap as a second input "
             "and one without; Table 2 does not say which it reports, so both run. "
             "Teacher-forced: the same future points, each step fed the true previous "
             "value instead of the RNN's own prediction (the hidden state carried on from "
             "the observed window); the gap between it and the rolled-out RMSE is error "
             "fed back through the rollout. The last tenth of the future is reached "
             "after the number of rollout steps shown (steps of the mean training gap, "
             "which shrinks as n grows)."),
        Table(("variant", "input", "n", "predictive RMSE", "teacher-forced",
               "last tenth, rolled out", "steps to it", "recon. RMSE",
               "convergence over the last doubling (iterations)"), tuple(rows)),
        Para(f"Predictive RMSE from n = {ends[0]} to n = {ends[1]}: " + "; ".join(trends)
             + f". The paper's RNN falls, {paper.get(ends[0], float('nan')):.3g} → "
             f"{paper.get(ends[1], float('nan')):.3g}."),
    ]
