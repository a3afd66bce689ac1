"""Benchmark cases against every peer: torchdiffeq and torchode 1.0.

torchode runs eager and under its JIT (``torch.jit.script``, as its README does), both
with ``AutoDiffAdjoint`` (backprop through its solver) and ``BacksolveAdjoint``. Every
gradient is scored against a float64 reference: torchdiffeq's dopri5 at rtol = atol =
1e-11, backpropagated directly (a tight solve's derivative converges to the exact one).
The batched case solves 256 unrelated linear systems at once and scores each sample
against its exact solution ``expm(A t) y0``.

Run through ``bench.py``; ``python benchmarks/peers.py --repeats 3`` runs these alone.
"""

from __future__ import annotations

import argparse
import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torchdiffeq
import torchode as to
from benchutil import median_ms, rel_l2, uncounted
from problems import CubicMLP, linear_systems
from torch import nn

from neuralode import collect_stats, odeint, odeint_adjoint

TOL = {"rtol": 1e-6, "atol": 1e-8}
BUDGET_S = 60.0  # a contender whose first call takes longer is not timed
Solve = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]  # -> (T, B, D)


@dataclass
class Result:
    case: str
    contender: str
    ms: float | None  # None: the contender cannot run this case (see note)
    nfe: str = ""
    err_out: float | None = None  # max abs difference of the outputs from the reference
    err_grad: float | None = None  # relative L2 error of the gradient (y0 and parameters)
    note: str = ""


def _torchode(f: nn.Module, kind: str, jit: bool, rtol: float, atol: float):
    """A torchode solver over ``f``: kind "autodiff" or "backsolve"; None with the
    reason when it cannot be built (e.g. BacksolveAdjoint is not scriptable)."""
    term = to.ODETerm(f)
    step = to.Dopri5(term=term)
    control = to.IntegralController(atol=atol, rtol=rtol, term=term)
    solver = (to.AutoDiffAdjoint(step, control) if kind == "autodiff"
              else to.BacksolveAdjoint(term, step, control))
    if jit:
        try:
            with warnings.catch_warnings():  # torch 2.14 deprecates TorchScript
                warnings.simplefilter("ignore", FutureWarning)
                solver = torch.jit.script(solver)
            solver.solve  # noqa: B018 (BacksolveAdjoint scripts, but without solve)
        except Exception as err:  # noqa: BLE001 (torchscript raises many kinds)
            return None, f"not scriptable ({type(err).__name__}: solve is not exported)"
    return solver, ""


def _tode_solve(solver) -> Solve:
    def solve(f: nn.Module, y0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t_eval = t.to(y0.dtype).expand(y0.shape[0], -1)  # (B, T): per-sample times
        return solver.solve(to.InitialValueProblem(y0=y0, t_eval=t_eval)).ys.transpose(0, 1)
    return solve


def solvers(f: nn.Module, grad: bool) -> tuple[dict[str, Solve], dict[str, str]]:
    """Every contender of a dopri5 case at TOL: name -> solve, and the ones that
    cannot run with why."""
    ours = (lambda f, y0, t: odeint_adjoint(f, y0, t, **TOL)) if grad else (
        lambda f, y0, t: odeint(f, y0, t, **TOL))
    out: dict[str, Solve] = {"neuralode" + (" adjoint" if grad else ""): ours}
    if not grad:  # the opt-in compiled step (its compilation: the first, untimed call)
        out["neuralode compiled"] = lambda f, y0, t: uncounted(
            f, lambda: odeint(f, y0, t, options={"compile": True}, **TOL))
    if grad:
        out["neuralode direct"] = lambda f, y0, t: odeint(f, y0, t, **TOL)
        out["torchdiffeq adjoint"] = lambda f, y0, t: torchdiffeq.odeint_adjoint(f, y0, t, **TOL)
    out["torchdiffeq" + (" direct" if grad else "")] = (
        lambda f, y0, t: torchdiffeq.odeint(f, y0, t, **TOL))
    missing: dict[str, str] = {}
    kinds = ("autodiff", "backsolve") if grad else ("autodiff",)
    for kind in kinds:
        for jit in (False, True):
            name = f"torchode {kind}{' JIT' if jit else ''}" if grad else (
                f"torchode{' JIT' if jit else ''}")
            solver, why = _torchode(f, kind, jit, TOL["rtol"], TOL["atol"])
            if solver is None:
                missing[name] = why
            else:
                out[name] = _tode_solve(solver)
    return out, missing


def _loss_grads(solve: Solve, f: nn.Module, y0: torch.Tensor, t: torch.Tensor):
    y = y0.clone().requires_grad_(True)
    out = solve(f, y, t)
    return out.detach(), torch.autograd.grad(out.square().sum(), [y, *f.parameters()])


def _counts_nothing(contender: str) -> bool:
    """Whether ``f`` cannot count its calls under this contender: TorchScript runs a
    scripted copy, and our compiled step runs ``f`` with counting off (a Python side
    effect would cost torch.compile dearly); same algorithm as eager, NFE left blank."""
    return "JIT" in contender or "compiled" in contender


def _no_grad(f: nn.Module, y0: torch.Tensor, t: torch.Tensor
             ) -> Callable[[Solve], Callable[[], torch.Tensor]]:
    """solve -> a call of that contender's forward solve of ``f`` from ``y0`` over
    ``t``, without autograd."""
    def runner(solve: Solve) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with torch.no_grad():
                return solve(f, y0, t)
        return run
    return runner


def _timed_rows(name: str, fns: dict[str, Solve], missing: dict[str, str], repeats: int,
                runner: Callable[[Solve], Callable[[], object]],
                score: Callable[[str, Solve, float], Result]) -> list[Result]:
    """Time every contender's ``runner(solve)`` interleaved (3 warm-up rounds), then
    ``score(contender, solve, ms)`` each timed one. A contender whose first call takes
    over BUDGET_S, or that cannot run (``missing``: name -> why), gets a row saying so."""
    ms = median_ms({k: runner(s) for k, s in fns.items()}, repeats, warmups=3,
                   budget_s=BUDGET_S)
    rows = [score(k, s, ms[k]) if k in ms else
            Result(name, k, None, note=f"one call took over {BUDGET_S:.0f} s: not timed")
            for k, s in fns.items()]
    return rows + [Result(name, k, None, note=why) for k, why in missing.items()]


def case_peers(name: str, f: nn.Module, batch: int, repeats: int, grad: bool
               ) -> list[Result]:
    """One problem, every contender: time, NFE (calls of ``f``; a VJP counts as one
    call in the adjoint's backward), output and gradient error against float64."""
    torch.manual_seed(0)
    y0, t = torch.randn(batch, 2), torch.linspace(0, 1, 10)
    ref_f = copy.deepcopy(f).double()
    tight = {"rtol": 1e-11, "atol": 1e-11}
    ref_out, ref_grad = _loss_grads(lambda g, y, s: torchdiffeq.odeint(g, y, s, **tight),
                                    ref_f, y0.double(), t.double())
    fns, missing = solvers(f, grad)
    runner: Callable[[Solve], Callable[[], object]] = (
        (lambda solve: lambda: _loss_grads(solve, f, y0, t)) if grad else _no_grad(f, y0, t))

    def score(k: str, solve: Solve, ms: float) -> Result:
        f.calls = 0
        with collect_stats() as s:
            got = runner(solve)()
        out, grads = got if grad else (got, None)
        nfe = (f"{s.nfe_forward}+{s.nfe_backward}" if k.startswith("neuralode adjoint")
               else "" if _counts_nothing(k) else str(f.calls))
        return Result(name, k, ms, nfe, (out.double() - ref_out).abs().max().item(),
                      rel_l2(grads, ref_grad) if grads else None)

    return _timed_rows(name, fns, missing, repeats, runner, score)


def case_batched(repeats: int, batch: int = 256) -> list[Result]:
    """Forward solves of the batch to t = 1; the error of the worst sample against its
    exact solution, in units of its tolerance atol + rtol |y|."""
    f, y0 = linear_systems(batch)
    t = torch.linspace(0, 1, 5)
    exact = torch.stack([torch.linalg.matrix_exp(f.a.double() * s) @ y0.double()[..., None]
                         for s in t.double()])[..., 0]  # (T, B, D)
    fns, missing = solvers(f, grad=False)
    runner = _no_grad(f, y0, t)
    name = f"6. batched: {batch} unrelated linear systems (D=4, eig 0.1-50)"

    def score(k: str, solve: Solve, ms: float) -> Result:
        f.calls = 0
        out = runner(solve)().double()
        scale = TOL["atol"] + TOL["rtol"] * exact.abs()
        worst = ((out - exact).abs() / scale).amax(dim=(0, 2)).max().item()
        return Result(name, k, ms, "" if _counts_nothing(k) else str(f.calls), worst)

    return _timed_rows(name, fns, missing, repeats, runner, score)


def _ours_of(contender: str) -> str:
    """The neuralode mode a contender is compared with: an adjoint (torchdiffeq's,
    torchode's backsolve) with ours, backprop through a solver with ours direct."""
    if "adjoint" in contender or "backsolve" in contender:
        return "neuralode adjoint"
    return "neuralode direct" if "direct" in contender or "autodiff" in contender else "neuralode"


def table(rows: list[Result]) -> str:
    """One line per case and contender; the ratio is ours (in the same mode: adjoint,
    direct backprop or forward only) over that contender, and in forward cases also
    our compiled step (``options={"compile": True}``) over it."""
    ours = {(r.case, r.contender): r.ms for r in rows if r.contender.startswith("neuralode")}
    head = ("| case | contender | ms | neuralode / this | compiled / this | NFE | err out | "
            "grad rel err | note |\n" + "|---" * 9 + "|")
    lines = [head]
    for r in rows:
        if r.ms is None:
            lines.append(f"| {r.case} | {r.contender} | n/a | | | | | | {r.note} |")
            continue
        mine = ours.get((r.case, _ours_of(r.contender)))
        ratio = mine / r.ms if mine else float("nan")
        fused = ours.get((r.case, "neuralode compiled"))
        fused_ratio = f"{fused / r.ms:.2f}" if fused else ""
        grad = "" if r.err_grad is None else f"{r.err_grad:.1e}"
        err = "" if r.err_out is None else f"{r.err_out:.1e}"
        lines.append(f"| {r.case} | {r.contender} | {r.ms:.2f} | {ratio:.2f} | {fused_ratio} | "
                     f"{r.nfe} | {err} | {grad} | {r.note} |")
    return "\n".join(lines)


def run(repeats: int) -> str:
    """Every peer case as a markdown section."""
    rows = case_peers("1. tiny forward (dopri5, B=20, 2-50-2)", CubicMLP((50,)), 20, repeats,
                      grad=False)
    rows += case_peers("2. tiny fwd + bwd (dopri5, B=20, 2-50-2)", CubicMLP((50,)), 20,
                       repeats, grad=True)
    rows += case_peers("3. mid-size fwd + bwd (B=1024, 2-256-256-2)", CubicMLP((256, 256)),
                       1024, max(3, repeats // 10), grad=True)
    rows += case_batched(max(3, repeats // 3))
    return ("## Against every peer: torchdiffeq and torchode\n\n"
            f"torchode {getattr(to, '__version__', '1.0')}, dopri5 at rtol {TOL['rtol']}, "
            f"atol {TOL['atol']} on every side, one torch thread.\n\n{table(rows)}\n\n"
            "err out: max abs difference from the float64 reference (case 6: the worst "
            "sample's max error over its tolerance atol + rtol |y|). grad rel err: relative "
            "L2 error of the gradient (y0 and parameters) of sum(y^2) against the float64 "
            "reference. NFE: calls of the function (neuralode adjoint: forward + backward); "
            "blank under JIT, where the scripted function counts nothing, and for the "
            "compiled step, where f runs with counting off (same algorithm as eager). "
            "compiled / this: our compiled step (options={'compile': True}) over that "
            "contender, in the forward cases. torchode controls the step of each sample on "
            "its own; neuralode and torchdiffeq share one step over the batch.\n")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(run(a.repeats))
