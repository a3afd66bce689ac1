"""Report section: latent ODE vs RNN on irregularly sampled spirals (paper sec. 5,
Table 2, Figs. 8-9)."""

from __future__ import annotations

from pathlib import Path

from .blocks import Block, Figure, Heading, Para, Table
from .common import Claim, ReportConfig, fmt, numeric_verdict, ordering_verdict, read_json
from .paper import TABLE2

MODELS = ("rnn", "latent_ode")
LABEL = {"rnn": "RNN", "latent_ode": "Latent ODE"}


def section(metrics: Path, figures: Path, root: Path, cfg: ReportConfig,
            n_obs: tuple[int, ...] = (30, 50, 100)) -> tuple[list[Block], list[Claim]]:
    m = {(k, n): read_json(metrics / "latent" / f"{k}_n{n}.json", f"evaluate_latent@{k}-{n}")
         for k in MODELS for n in n_obs}
    first = m[("latent_ode", n_obs[0])]
    passes = first["iterations"] * first["batch_size"]  # spirals seen in training
    comparable = passes >= cfg.latent_comparable_passes
    rows, claims = [], []
    for k in MODELS:
        for n in n_obs:
            ours, paper = m[(k, n)]["pred_rmse"], TABLE2[k][n]
            verdict = numeric_verdict(ours, paper, cfg.eps_rmse, comparable)
            rows.append((LABEL[k], str(n), fmt(paper, 4), fmt(ours, 4), f"{ours - paper:+.4f}",
                         fmt(m[(k, n)]["recon_rmse"], 4), fmt(m[(k, n)]["iterations"]),
                         verdict))
            claims.append(Claim(f"Table 2: {LABEL[k]} predictive RMSE, n = {n}",
                                f"{fmt(ours, 4)} (paper {fmt(paper, 4)})", verdict))
    wins = [m[("latent_ode", n)]["pred_rmse"] < m[("rnn", n)]["pred_rmse"] for n in n_obs]
    claims.append(Claim("The latent ODE beats the RNN at every n (Table 2)",
                        f"latent ODE lower at {sum(wins)} of {len(wins)} values of n",
                        ordering_verdict(all(wins))))
    blocks: list[Block] = [
        Heading("Latent ODE vs RNN on irregular spirals (Table 2)"),
        Para(f"Predictive RMSE over the 100 points after the observation window, on the "
             f"test spirals; reconstruction RMSE on the observed points. Observation noise "
             f"σ = {fmt(first['noise_std'])}: the paper does not state its σ, so we use the "
             "original code's 0.1. Verdicts use ε = "
             f"{cfg.eps_rmse}. This run trained on {passes:,} spiral sequences "
             f"(iterations × batch); below {cfg.latent_comparable_passes:,} (the original "
             "code's 2000 full-batch steps over 800 training spirals) its numbers are not "
             "comparable with the paper's."),
        Table(("model", "n", "paper RMSE", "ours", "Δ", "recon. RMSE", "iterations",
               "verdict"), tuple(rows)),
    ]
    for k in MODELS:
        folder = figures / "latent" / f"{k}_n{n_obs[0]}"
        if folder.is_dir():
            blocks += [Figure(p.relative_to(root), f"{LABEL[k]}, n = {n_obs[0]}: "
                              f"{p.stem.replace('_', ' ')}.") for p in sorted(folder.glob("*.png"))]
    return blocks, claims
