"""The cases of bench.py: neuralode against torchdiffeq on the same function, inputs,
tolerances and thread count, interleaved A B A B, medians reported; each returns a
:class:`Row` of the table (time, NFE on both sides, result and gradient differences,
and our overhead over the bare function evaluations)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torchdiffeq
from benchutil import median_ms, rel_l2, uncounted
from problems import Counted, CubicMLP
from torch import nn

from neuralode import collect_stats, odeint, odeint_adjoint


@dataclass
class Row:
    case: str
    ours_ms: float
    ref_ms: float
    nfe_ours: str
    nfe_ref: str
    diff_out: float
    diff_grad: float | None
    overhead: float | None

    @property
    def ratio(self) -> float:
        return self.ours_ms / self.ref_ms


def _median_interleaved(a: Callable[[], object], b: Callable[[], object], repeats: int
                        ) -> tuple[float, float]:
    """Medians in ms of ``a`` and ``b``, interleaved A B A B after one warm-up each."""
    ms = median_ms({"a": a, "b": b}, repeats)
    return ms["a"], ms["b"]


def _time_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` in ms, after one warm-up call."""
    return median_ms({"fn": fn}, repeats)["fn"]


def _bare_eval_ms(f: nn.Module, y0: torch.Tensor, repeats: int = 200) -> float:
    t0 = torch.zeros(())
    with torch.no_grad():
        return _time_ms(lambda: f(t0, y0), repeats)


def _count(f: CubicMLP, fn: Callable[[], object]) -> int:
    f.calls = 0
    fn()
    return f.calls


def case_forward(name: str, hidden: tuple[int, ...], batch: int, repeats: int, *,
                 method: str = "dopri5", step: float | None = None,
                 compile_step: bool = False) -> tuple[Row, float | None]:
    """The forward solve in both libraries; with ``compile_step`` ours takes
    ``options={"compile": True}``. Returns the row and the compiled step's first
    call (compilation included) in seconds, None without it."""
    torch.manual_seed(0)
    f, y0, t = CubicMLP(hidden), torch.randn(batch, 2), torch.linspace(0, 1, 10)
    kw = {"rtol": 1e-6, "atol": 1e-8, "method": method}
    opts = {"step_size": step} if step else None

    def ours():
        with torch.no_grad():
            if compile_step:
                return uncounted(f, lambda: odeint(f, y0, t, options={"compile": True}, **kw))
            return odeint(f, y0, t, options=opts, **kw)

    def ref():
        with torch.no_grad():
            return torchdiffeq.odeint(f, y0, t, options=opts, **kw)

    first = time.perf_counter()
    ours()
    compile_s = time.perf_counter() - first if compile_step else None
    ours_ms, ref_ms = _median_interleaved(ours, ref, repeats)
    with collect_stats() as stats:
        ours()
    nfe_o, nfe_r = stats.nfe_forward, _count(f, ref)
    overhead = ours_ms / (nfe_o * _bare_eval_ms(f, y0))
    return Row(name, ours_ms, ref_ms, str(nfe_o), str(nfe_r),
               (ours() - ref()).abs().max().item(), None, overhead), compile_s


def case_adjoint(name: str, hidden: tuple[int, ...], batch: int, repeats: int,
                 seminorm: bool) -> Row:
    torch.manual_seed(0)
    f, y0, t = CubicMLP(hidden), torch.randn(batch, 2), torch.linspace(0, 1, 10)
    kw = {"rtol": 1e-6, "atol": 1e-8, "method": "dopri5"}
    params = list(f.parameters())

    def run(lib: str):
        y = y0.clone().requires_grad_(True)
        if lib == "ours":
            with collect_stats() as s:
                out = odeint_adjoint(f, y, t, seminorm=seminorm, **kw)
                grads = torch.autograd.grad(out.square().sum(), [y, *params])
            return out, grads, s
        opts = {"norm": "seminorm"} if seminorm else {}
        out = torchdiffeq.odeint_adjoint(f, y, t, adjoint_options=opts, **kw)
        return out, torch.autograd.grad(out.square().sum(), [y, *params]), None

    ours_ms, ref_ms = _median_interleaved(lambda: run("ours"), lambda: run("ref"), repeats)
    out_o, g_o, stats = run("ours")
    f.calls = 0
    out_r, g_r, _ = run("ref")
    ref_total = f.calls
    f.calls = 0
    with torch.no_grad():
        torchdiffeq.odeint(f, y0, t, **kw)
    ref_fwd = f.calls
    rel = max(((a - b).abs().max() / b.abs().max()).item() for a, b in zip(g_o, g_r, strict=True))
    nfe_o = stats.nfe_forward + stats.nfe_backward
    overhead = ours_ms / (nfe_o * _bare_eval_ms(f, y0) * 3)  # vjp ~ 3 evaluations
    return Row(name, ours_ms, ref_ms, f"{stats.nfe_forward}+{stats.nfe_backward}",
               f"{ref_fwd}+{ref_total - ref_fwd}", (out_o - out_r).abs().max().item(), rel,
               overhead)


def case_mnist(name: str, repeats: int, solver: dict) -> tuple[Row, float, float, str]:
    """One ODE-Net training step (adjoint) in both libraries with the same ``solver``.

    Returns the row; both libraries' gradient errors against a tight reference, direct
    backprop through dopri5 at rtol = atol = 1e-6 (relative L2 over all parameters); and
    where our step's time goes (function floor, the layers around the ODE block, the
    rest: solver work).
    At tol 1e-3 each adjoint gradient is itself approximate, so the two may differ from
    each other far more than either differs from the exact gradient of its solve.
    """
    from neuralode_repro.config import parse
    from neuralode_repro.models.mnist import MnistModelConfig, build_model

    torch.manual_seed(0)
    model = build_model(parse(MnistModelConfig, {"kind": "odenet", "solver": solver}))
    counted = Counted(model.features.func)
    x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
    t = torch.tensor([0.0, 1.0])
    kw = {"method": solver["method"], "rtol": solver.get("rtol", 1e-3),
          "atol": solver.get("atol", 1e-3)}
    if "step_size" in solver:
        kw["options"] = {"step_size": solver["step_size"]}
    ref_opts = dict(kw.get("options", {}))  # torchdiffeq's backward solve takes its own
    if solver.get("seminorm"):
        ref_opts["norm"] = "seminorm"
    nfe: dict[str, int] = {}

    def step(lib: str, tight: bool = False):
        model.zero_grad()
        if lib == "ours":
            out = model(x)
        else:
            z = model.downsample(x)
            if tight:  # the reference gradient: no adjoint, tight tolerance
                z = torchdiffeq.odeint(counted, z, t, rtol=1e-6, atol=1e-6)[-1]
            else:
                z = torchdiffeq.odeint_adjoint(counted, z, t, adjoint_options=ref_opts,
                                               **kw)[-1]
            out = model.head(z)
        loss = nn.functional.cross_entropy(out, y)
        nfe["fwd"] = counted.calls
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    ours_ms, ref_ms = _median_interleaved(lambda: step("ours"), lambda: step("ref"), repeats)
    with collect_stats() as s:
        l_o, g_o = step("ours")
    counted.calls = 0
    l_r, g_r = step("ref")
    ref_nfe = f"{nfe['fwd']}+{counted.calls - nfe['fwd']}"
    _, g_t = step("ref", tight=True)

    def rel(ga: list[torch.Tensor], gb: list[torch.Tensor]) -> float:
        return max(((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()
                   for a, b in zip(ga, gb, strict=True))

    # Overhead against the function-bound floor: NFE-F bare evaluations plus NFE-B
    # evaluations with their vector-Jacobian product (what any adjoint must compute).
    func, params = model.features.func, tuple(model.features.func.parameters())
    z, t0 = model.downsample(x).detach(), torch.zeros(())

    def eval_vjp() -> None:
        zz = z.clone().requires_grad_(True)
        out = func(t0, zz)
        torch.autograd.grad(out, (zz, *params), out)

    with torch.no_grad():
        e_f = _time_ms(lambda: func(t0, z), 10)
    e_b = _time_ms(eval_vjp, 10)
    floor = s.nfe_forward * e_f + s.nfe_backward * e_b

    def outside() -> None:  # downsampling and head, forward and backward, no ODE block
        model.zero_grad()
        z = model.downsample(x)
        loss = nn.functional.cross_entropy(model.head(z.detach().requires_grad_(True)), y)
        loss.backward()
        z.backward(torch.ones_like(z))

    e_o = _time_ms(outside, 10)
    budget = (f"ours {ours_ms:.0f} ms = ODE function floor {floor:.0f} ({s.nfe_forward} x "
              f"{e_f:.1f} + {s.nfe_backward} x {e_b:.1f} evaluation+VJP) + layers around "
              f"the ODE block {e_o:.0f} + solver work {ours_ms - floor - e_o:.0f}")
    row = Row(name, ours_ms, ref_ms, f"{s.nfe_forward}+{s.nfe_backward}", ref_nfe,
              (l_o - l_r).abs().item(), rel(g_o, g_r), ours_ms / floor)
    return row, rel_l2(g_o, g_t), rel_l2(g_r, g_t), budget
