"""Report section: MNIST, paper Table 1, the memory claim and Figure 3 (sec. 3)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from ..runs import grid
from . import mnist_fig3 as fig3
from . import provenance
from .blocks import Block, Figure, Heading, Para, Table
from .common import SMOKE, Claim, Reader, ReportConfig, fmt, is_smoke, ordering_verdict
from .paper import NOTEBOOK_MNIST, TABLE1, TABLE1_NOTE
from .stats import Convergence, TightCheck, combine, gated, interval, match_verdict, order_verdict

PARAMS_THIRD = 0.4  # "about a third of the parameters": at most 0.4 of ResNet's (ours)

MODELS = ("mlp", "resnet", "rknet", "odenet")


def _runs(metrics: Reader, model: str, seeds: tuple[int, ...]) -> list[dict]:
    """The evaluations of ``model`` for the seeds params declare (never a leftover file
    of another run)."""
    return [metrics.run(r) for r in grid("mnist", model=[model], seed=seeds)]


def converged(metrics: Reader, cfg: ReportConfig, seeds: tuple[int, ...]
              ) -> dict[str, Convergence]:
    """Each model's convergence (the report's rule) on its learning curve: test error
    of the training snapshots on the fixed test subset, against epochs."""
    return {m: metrics.convergence(grid("mnist", model=[m], seed=seeds), "curve", "epoch",
                                   "test_error", cfg.delta_mnist_error_pp) for m in MODELS}


def _worst(*runs: Convergence) -> str:
    """The convergence cell of a claim on several models: the first not converged."""
    return next((c for c in runs if not c.converged), runs[0]).show()


def _mean(runs: list[dict], key: str) -> float:
    return statistics.fmean(float(r[key]) for r in runs)


def _orderings(metrics: Reader, cfg: ReportConfig, smoke: bool, seeds: tuple[int, ...],
               conv: dict[str, Convergence]) -> list[Claim]:
    """Table 1's orderings, judged at any profile (they need no 160 epochs): ODE-Net
    matches ResNet (paired difference within ε) with about a third of its parameters,
    and the MLP is worse than each of the three others in every seed (or by a paired
    interval)."""
    err = {m: [float(r["test_error"]) for r in _runs(metrics, m, seeds)] for m in MODELS}
    diff = interval([a - b for a, b in zip(err["odenet"], err["resnet"], strict=True)])
    ratio = (_mean(_runs(metrics, "odenet", seeds), "n_params")
             / _mean(_runs(metrics, "resnet", seeds), "n_params"))
    match = combine([match_verdict([a - b for a, b in zip(err["odenet"], err["resnet"],
                                                          strict=True)],
                                   0.0, cfg.eps_mnist_error_pp),
                     ordering_verdict(ratio <= PARAMS_THIRD)])
    worse = combine([order_verdict(err[m], err["mlp"]) for m in ("resnet", "rknet", "odenet")])
    return [
        Claim("Table 1: ODE-Net matches ResNet with about a third of the parameters",
              f"ODE-Net − ResNet {diff.show(2, ' pp')} (ε = {cfg.eps_mnist_error_pp}); "
              f"parameters {ratio:.2f}× ResNet's (≤ {PARAMS_THIRD}, ours)",
              SMOKE if smoke else gated(match, conv["odenet"], conv["resnet"]),
              _worst(conv["odenet"], conv["resnet"])),
        Claim("Table 1: the 1-layer MLP is worse than the three deep models",
              "MLP " + interval(err["mlp"]).show(3, "%") + " vs the best of the others "
              + min((interval(err[m]) for m in ("resnet", "rknet", "odenet")),
                    key=lambda iv: iv.mean).show(3, "%"),
              SMOKE if smoke else gated(worse, *conv.values()), _worst(*conv.values()))]


def _table1(metrics: Reader, cfg: ReportConfig, smoke: bool, seeds: tuple[int, ...],
            conv: dict[str, Convergence], tight: dict[str, TightCheck]
            ) -> tuple[list[Block], list[Claim]]:
    """Table 1's rows and a claim per model; ``tight``: the models re-measured at a
    tight tolerance, whose claim says so where the value moved beyond its spread."""
    rows, claims = [], []
    for model in MODELS:
        runs, paper = _runs(metrics, model, seeds), TABLE1[model]
        errs = [float(r["test_error"]) for r in runs]  # (seeds,)
        err = interval(errs)
        verdict = SMOKE if smoke else gated(
            match_verdict(errs, paper["error"], cfg.eps_mnist_error_pp), conv[model])
        nfe = model in ("rknet", "odenet")
        rows.append((paper["label"], f"{paper['error']:.2f}%", err.show(3, "%"),
                     f"{err.mean - paper['error']:+.2f}", verdict, f"{paper['params_m']:.2f} M",
                     f"{_mean(runs, 'n_params') / 1e6:.3f} M", paper["memory"],
                     f"{_mean(runs, 'peak_memory_mb'):.0f} MB", paper["time"],
                     f"{_mean(runs, 'epoch_time_s'):.0f} s",
                     fmt(_mean(runs, "nfe_forward_mean")) if nfe else "–",
                     fmt(_mean(runs, "nfe_backward_mean")) if nfe else "–"))
        moved = tight.get(model)
        flag = (f"; at tol {moved.tol:g} it moves {moved.move.show(2)} pp"
                if moved and moved.flagged else "")
        claims.append(Claim(f"Table 1: {paper['label']} test error",
                            f"{err.show(3, '%')} after {runs[0]['epochs']} epochs "
                            f"(paper {paper['error']:.2f}%){flag}", verdict,
                            conv[model].show(), panel="Table 1: MNIST test error (%)",
                            paper=paper["error"], values=tuple(errs), label=paper["label"]))
    n_seeds = len(seeds)
    blocks: list[Block] = [
        Heading("MNIST: Table 1"),
        Para(f"Test error on the {fmt(_runs(metrics, 'odenet', seeds)[0]['test_images'])} test "
             f"images, mean over {n_seeds} seed(s). Memory: "
             "the paper's asymptotic class next to our measured peak of one training step; "
             "time: its class next to our time per training epoch. Verdicts use ε = "
             f"{cfg.eps_mnist_error_pp} percentage points, on models the learning curve "
             f"shows converged (δ = {cfg.delta_mnist_error_pp} pp, by the rule of the "
             "summary; the paper trains 160 epochs)."),
        Table(("model", "paper error", "ours", "Δ (pp)", "verdict", "paper params",
               "ours", "paper memory", "ours (peak)", "paper time", "ours (epoch)", "NFE-F",
               "NFE-B"), tuple(rows)),
        Table(("model", "convergence of the learning curve over the last doubling "
                        "(epochs)"),
              tuple((TABLE1[m]["label"], conv[m].show()) for m in MODELS)),
        Para(TABLE1_NOTE + f" The tutorial notebook reports {NOTEBOOK_MNIST['accuracy']}% "
             f"test accuracy for an ODE-Net with {NOTEBOOK_MNIST['solver']} after "
             f"{NOTEBOOK_MNIST['epochs']} epochs."),
    ]
    return blocks, claims


def _memory(metrics: Reader, figures: Path, root: Path, cfg: ReportConfig, smoke: bool,
            setup: Any = None) -> tuple[list[Block], list[Claim]]:
    """The memory claim; ``setup``: the run's MnistMemoryConfig (batch, method)."""
    mem = metrics.json("mnist/memory.json", "mnist_memory")
    how = f" at batch {setup.batch_size}, fixed-step {setup.method}," if setup else ""
    flat = mem["odenet_spread"] <= cfg.eps_memory_flat
    grows = mem["rknet_growth"] > 1 + cfg.eps_memory_flat
    rows = tuple((str(n), f"{o:.1f}", f"{r:.1f}") for n, o, r in
                 zip(mem["nfe_forward"], mem["odenet_mb"], mem["rknet_mb"], strict=True))
    blocks: list[Block] = [
        Heading("Memory against the number of function evaluations"),
        Para(f"Peak memory of one training step{how} measured on "
             f"{mem['runtime']['device']} (CPU: allocator events recorded by "
             "torch.profiler; GPU: torch.cuda.max_memory_allocated)."),
        Table(("forward NFE", "ODE-Net (adjoint) MB", "RK-Net (backprop) MB"), rows)]
    fig = figures / "mnist" / "memory_vs_nfe.png"
    if fig.exists():
        blocks.append(Figure(fig.relative_to(root), "Peak training-step memory vs NFE."))
    claim = Claim("ODE-Net memory is O(1) in the solver steps while RK-Net's grows (Table 1)",
                  f"ODE-Net spread {mem['odenet_spread']:.1%}, RK-Net ×{mem['rknet_growth']:.1f}"
                  f" from {mem['nfe_forward'][0]} to {mem['nfe_forward'][-1]} NFE",
                  ordering_verdict(flat and grows, smoke))
    return blocks, [claim]


def section(metrics: Reader, figures: Path, root: Path, cfg: ReportConfig,
            seeds: tuple[int, ...] = (0,), train: Any = None, memory: Any = None,
            study: Any = None) -> tuple[list[Block], list[Claim]]:
    """Table 1 over ``seeds`` (train_mnist.seeds), the memory claim and Figure 3; with
    the run's ``train``, ``memory`` and ``study`` (MnistTrainConfig, MnistMemoryConfig,
    NfeStudyConfig), where each setting comes from."""
    smoke = is_smoke([r for model in MODELS for r in _runs(metrics, model, seeds)], cfg)
    conv = converged(metrics, cfg, seeds)
    # the studied model's test error at a tight tolerance (nfe_study)
    tight_blocks, tight = fig3.tight(metrics, cfg, study)
    blocks, claims = _table1(metrics, cfg, smoke, seeds, conv,
                             {study.model if study else "odenet": tight})
    if train is not None:
        m = train.models
        values = {**provenance.flat(m["odenet"]), **provenance.flat(train.optim),
                  **provenance.flat(train.data), "epochs": train.epochs,
                  "n_seeds": len(seeds), "n_res_blocks": m["resnet"].n_res_blocks,
                  "mlp_hidden": m["mlp"].mlp_hidden}
        blocks += provenance.table(provenance.MNIST, values)
    claims += _orderings(metrics, cfg, smoke, seeds, conv)
    curve = figures / "mnist" / "learning_curve.png"
    if curve.exists():
        blocks += [Para("The paper trains 160 epochs, out of reach on a CPU: the learning "
                        "curve shows how far each model's test error is from its Table 1 "
                        "value (dashed) and how fast it is closing (test error of training "
                        "snapshots on a fixed test subset, `train_mnist.curve`)."),
                   Figure(curve.relative_to(root), "Learning curve against Table 1.")]
    for part in (_memory(metrics, figures, root, cfg, smoke, memory),
                 fig3.part(metrics, figures, root, smoke, study, train,
                          conv.get(study.model if study else "odenet"))):
        blocks += part[0]
        claims += part[1]
    blocks += tight_blocks
    return blocks, claims
