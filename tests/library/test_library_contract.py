"""The library's contract with outside PyTorch users: every way of passing parameters,
dtypes, times, tolerances and budgets is either right (agreeing with direct backprop or
an exact solution) or a clear error naming the argument and the fix.

``CONTRACT`` rows were silently wrong or misleading before the fix (each fails on the
old code); ``KEEPS_WORKING`` rows are legitimate uses that the new checks must accept.
A row is (id, case, expected): ``case()`` runs the input; ``expected`` is ``Raises``,
``Close`` (to a value or a reference computed by a callable), ``AGREE`` (the case
returns adjoint and direct-backprop gradients of one problem) or a plain value.
"""

import math
import threading
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from torch import nn

from neuralode import SolverError, collect_stats, odeint, odeint_adjoint

F64 = torch.float64
T = torch.tensor([0.0, 1.0], dtype=F64)
TIGHT = {"rtol": 1e-10, "atol": 1e-10}
AGREE = "adjoint agrees with odeint"


class Raises(NamedTuple):
    exc: type[BaseException]
    match: str


class Close(NamedTuple):
    want: Any
    rtol: float = 1e-6
    atol: float = 1e-9


def _w():
    return torch.tensor([[-0.5, 0.3], [0.2, -0.4]], dtype=F64, requires_grad=True)


def _y0():
    return torch.ones(3, 2, dtype=F64)


def _grads(solve, func, params, y0, t=T, **kw):
    """Gradients of a loss on every output w.r.t. (y0, *params)."""
    y0 = y0.clone().requires_grad_(True)
    out = solve(func, y0, t, **{**TIGHT, **kw})
    return torch.autograd.grad((out ** 2).sum() + out[-1].sum(), (y0, *params))


def _agree(make, **kw):
    """(adjoint grads, direct grads) of one problem, built afresh for each by ``make``
    -> (func, params, y0, odeint_adjoint's extra kwargs)."""
    func, params, y0, adj_kw = make()
    adjoint = _grads(odeint_adjoint, func, params, y0, **adj_kw, **kw)
    func, params, y0, _ = make()
    return adjoint, _grads(odeint, func, params, y0, **kw)


class ScaledLinear(nn.Module):
    def __init__(self, scale=None):
        super().__init__()
        self.lin = nn.Linear(2, 2, dtype=F64)
        with torch.no_grad():  # the same weights every time: adjoint vs direct on one problem
            self.lin.weight.copy_(_w())
            self.lin.bias.fill_(0.1)
        self.scale = torch.tensor(0.7, dtype=F64) if scale is None else scale  # not a Parameter

    def forward(self, t, y):
        return torch.tanh(self.lin(y)) * self.scale


class WeightInside(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Parameter(_w().detach()), nn.Parameter(_w().detach().T.clone())

    def forward(self, t, y):
        return torch.tanh(y @ (self.a @ self.b))  # an intermediate built from params


def _module(cls):
    return lambda: (m := cls(), tuple(m.parameters()), _y0(), {})


def _linear(weight=None, **adj_kw):
    """y' = y W with W = weight(w) from w = _w(), and the kwargs naming what to pass."""
    def make():
        w = _w()
        p = w if weight is None else weight(w)
        return (lambda t, y: y @ p), (w,), _y0(), {k: v(w, p) for k, v in adj_kw.items()}
    return make


def _divergence_func(detach):
    """FFJORD-style dynamics that differentiate w.r.t. the state inside func."""
    lin = ScaledLinear().lin.requires_grad_(False)

    def func(t, y):
        with torch.enable_grad():
            z = y.detach().requires_grad_(True) if detach else y.requires_grad_(True)
            f = torch.tanh(lin(z))
            return f + 0.1 * torch.autograd.grad(f.sum(), z, create_graph=True)[0]
    return func


# --- 1-2. tensors func reads that are not among adjoint_params; repeats ---------------
def closure_param():
    w = _w()
    odeint_adjoint(lambda t, y: y @ w, _y0().requires_grad_(True), T)[-1].sum().backward()
    return w.grad


def single_tensor_as_adjoint_params():
    w = torch.tensor([0.5, 1.0], dtype=F64, requires_grad=True)
    return _grads(odeint_adjoint, lambda t, y: -w * y, (w,), torch.ones(2, dtype=F64),
                  adjoint_params=w)


def detaching_func():  # adjoint vs direct y0-gradients with the same func
    return _agree(lambda: (_divergence_func(detach=True), (), _y0(), {}))


# --- 3. higher-order gradients -------------------------------------------------------
def adjoint_create_graph():
    a = torch.tensor(0.5, dtype=F64, requires_grad=True)
    y = odeint_adjoint(lambda t, y: a * y, torch.ones(1, dtype=F64), T, adjoint_params=(a,))
    return torch.autograd.grad(y[-1].sum(), a, create_graph=True)


def hessian_a_t0_t1(y_t1):
    """Hessian (3, 3) of y(t1) for y' = a t y, y(t0) = 1.5, w.r.t. (a, t0, t1)."""
    h = torch.autograd.functional.hessian(y_t1, tuple(torch.tensor(x, dtype=F64)
                                                      for x in (0.5, 0.2, 1.0)))
    return torch.stack([torch.stack(row) for row in h])


def solved_y_t1(a, t0, t1):
    y0 = torch.full((1,), 1.5, dtype=F64)
    return odeint(lambda t, y: a * t * y, y0, torch.stack([t0, t1]), **TIGHT)[-1, 0]


def exact_y_t1(a, t0, t1):
    return 1.5 * torch.exp(a * (t1 ** 2 - t0 ** 2) / 2)


def odeint_second_derivative_in_a():  # exact for y' = a y at t = 1: [e^a, e^a]
    a = torch.tensor(0.5, dtype=F64, requires_grad=True)
    (g,) = torch.autograd.grad(odeint(lambda t, y: a * y, torch.ones(1, dtype=F64), T,
                                      **TIGHT)[-1, 0], a, create_graph=True)
    return torch.stack([g, *torch.autograd.grad(g, a)])


# --- 4-5. dtypes, times, func outputs, tolerance types -------------------------------
def decay(dtype, y0=(1.0, 0.5), solve=odeint, **kw):
    """max |y - exp(-t) y0| for y' = -y solved in ``dtype``."""
    t = torch.linspace(0, 1, 5, dtype=dtype)
    y = solve(lambda t, y: -y, torch.tensor(y0, dtype=dtype), t, **kw)
    return (y.double() - torch.exp(-t.double())[:, None] * torch.tensor(y0, dtype=F64)).abs().max()


def half_bound(dtype):  # a few roundings of the dtype
    return Close(0.0, rtol=0, atol=4 * torch.finfo(dtype).eps)


def y1(func=lambda t, y: -y, y0=None, t=T, solve=odeint, **kw):
    return solve(func, torch.ones(1, dtype=F64) if y0 is None else y0, t, **kw)[-1, 0]


# --- 6. the max_num_steps budget -------------------------------------------------------
def backward_out_of_budget():
    w = _w()
    return _grads(odeint_adjoint, lambda t, y: torch.sin(20 * t) * (y @ w), (w,), _y0(),
                  adjoint_params=(w,), adjoint_options={"max_num_steps": 3})


# --- 7. collect_stats: threads and failed solves ---------------------------------------
def stats_in_two_threads():
    counts, barrier = {}, threading.Barrier(2)

    def work(n):
        with collect_stats() as s:
            barrier.wait()  # both blocks open at once
            for _ in range(n):  # euler on [0, 1] with no step_size: 1 evaluation
                odeint(lambda t, y: -y, torch.ones(1), torch.tensor([0.0, 1.0]), method="euler")
            barrier.wait()
        counts[n] = s.nfe_forward

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return counts


def stats_of_failed_solve():
    calls = 0

    def f(t, y):
        nonlocal calls
        calls += 1
        return torch.cos(50 * t) * y

    with collect_stats() as s, pytest.raises(SolverError):
        odeint(f, torch.ones(1, dtype=F64), T, options={"max_num_steps": 5}, **TIGHT)
    return s.nfe_forward - calls, s.steps_accepted + s.steps_rejected


def stats_of_failed_backward():
    with collect_stats() as s, pytest.raises(SolverError):
        backward_out_of_budget()
    return s.nfe_backward > 0, s.backward_steps_accepted + s.backward_steps_rejected


def stats_of_backward_on_another_thread():
    with collect_stats() as s:
        y = odeint_adjoint(lambda t, y: -y, torch.ones(1, dtype=F64, requires_grad=True), T)
    th = threading.Thread(target=lambda: y.sum().backward())  # as autograd does on CUDA
    th.start()
    th.join()
    return s.nfe_backward > 0


LOST = r"uses 1 tensor\(s\) that require grad but are not in adjoint_params: shape "
CONTRACT = [
    ("1-closure-param", closure_param, Raises(ValueError, LOST + r"\(2, 2\).*Pass them in "
                                              r"adjoint_params")),
    ("1-closure-param-y0-without-grad", lambda: y1(lambda t, y: y @ _w(), _y0(), solve=
                                                   odeint_adjoint), Raises(ValueError, LOST)),
    ("1-module-reads-plain-tensor", lambda: _grads(odeint_adjoint, m := ScaledLinear(
        torch.tensor(0.7, dtype=F64, requires_grad=True)), (m.scale,), _y0()),
     Raises(ValueError, LOST + r"\(\).*register them as nn.Parameter")),
    ("1-func-detaches-y", detaching_func, Raises(ValueError, r"func\(t, y\) detaches y.*use "
                                                 r"y.requires_grad_\(\)")),
    ("1-param-via-tensor-computed-before-solve", lambda: _agree(_linear(
        lambda w: w @ w.detach().T, adjoint_params=lambda w, p: (w,))), AGREE),
    ("1-single-tensor-as-adjoint_params", single_tensor_as_adjoint_params, Raises(
        TypeError, r"adjoint_params must be a tuple of tensors, got a single Tensor.*\(tensor,\)")),
    ("2-repeated-adjoint-param", lambda: _agree(_linear(adjoint_params=lambda w, p: (w, w))),
     AGREE),
    ("3-adjoint-create_graph", adjoint_create_graph, Raises(
        RuntimeError, r"does not support higher-order gradients \(a backward with "
                      r"create_graph=True.*Use odeint")),
    ("3-odeint-hessian-in-a-t0-t1", lambda: hessian_a_t0_t1(solved_y_t1),
     Close(lambda: hessian_a_t0_t1(exact_y_t1), atol=1e-8)),
    ("4-bfloat16-default-tolerances", lambda: decay(torch.bfloat16), Raises(
        ValueError, r"rtol=1e-07 is below the unit roundoff of the state's dtype "
                    r"torch.bfloat16 .*0.00391.*float32")),
    ("4-float16-default-tolerances", lambda: decay(torch.float16), Raises(
        ValueError, r"rtol=1e-07 is below .*float16.*atol=1e-09 is below the smallest normal "
                    r"torch.float16.*float32")),
    ("4-float16-zero-state-default-atol", lambda: decay(torch.float16, (1.0, 0.0), rtol=1e-2),
     Raises(ValueError, r"^atol=1e-09 is below the smallest normal torch.float16")),
    ("4-bfloat16-adjoint_rtol", lambda: decay(torch.bfloat16, solve=odeint_adjoint, rtol=1e-2,
                                              atol=1e-3, adjoint_rtol=1e-7),
     Raises(ValueError, r"adjoint_rtol=1e-07 is below the unit roundoff")),
    ("5-t-nan", lambda: y1(t=torch.tensor([0.0, math.nan])),
     Raises(ValueError, r"t must be finite, got t\[1\]=nan")),
    ("5-t-inf", lambda: y1(t=torch.tensor([0.0, 1.0, math.inf]), solve=odeint_adjoint),
     Raises(ValueError, r"t must be finite, got t\[2\]=inf")),
    ("5-func-wrong-dtype", lambda: y1(lambda t, y: (-y).float(), solve=odeint_adjoint), Raises(
        TypeError, r"func\(t, y\) .*returned dtype torch.float32, but the state y0 is "
                   r"torch.float64")),
    ("5-func-returns-None", lambda: y1(lambda t, y: None),
     Raises(TypeError, r"func\(t, y\) .*must return a Tensor, got NoneType")),
    ("5-func-returns-tuple", lambda: y1(lambda t, y: (-y,)),
     Raises(TypeError, r"func\(t, y\) .*must return a Tensor, got tuple.*torch.cat")),
    ("5-func-wrong-device", lambda: y1(lambda t, y: torch.zeros(1, dtype=F64, device="meta")),
     Raises(ValueError, r"func\(t, y\) .*returned a tensor on meta, but the state y0 is on cpu")),
    ("5-tolerances-numpy-float32", lambda: y1(rtol=np.float32(1e-6), atol=np.float32(1e-6)),
     Close(math.exp(-1), rtol=1e-5)),
    ("5-step_size-numpy-float32", lambda: y1(method="rk4", options={
        "step_size": np.float32(0.125)}), Close(math.exp(-1), rtol=1e-5)),
    ("5-rtol-tensor", lambda: y1(rtol=torch.tensor(1e-3)),
     Raises(TypeError, r"rtol must be a real number .*got Tensor.*\.item\(\)")),
    ("5-atol-string", lambda: y1(atol="1e-3"), Raises(
        TypeError, r"atol must be a real number \(int, float or numpy scalar\), got str")),
    # the forward needs 26 steps of 40; the backward >= 79 in all, >= 1 per output interval
    ("6-backward-budget-per-output-interval", lambda: _agree(
        _linear(adjoint_params=lambda w, p: (w,)), t=torch.linspace(0, 1, 80, dtype=F64),
        options={"max_num_steps": 40}), AGREE),
    ("6-max_num_steps-message", lambda: y1(lambda t, y: torch.cos(50 * t) * y, options={
        "max_num_steps": 5}, **TIGHT), Raises(SolverError, r"max_num_steps=5 exceeded at t=.*it "
                                              r"bounds the accepted \+ rejected steps of one "
                                              r"solve over \[0, 1\]")),
    ("6-backward-budget-message", backward_out_of_budget, Raises(
        SolverError, r"odeint_adjoint backward pass, output interval 1 of 1 \(t=1 -> 0; .*"
                     r"max_num_steps applies per interval\): dopri5: max_num_steps=3 exceeded")),
    ("7-collect_stats-two-threads", stats_in_two_threads, {1: 1, 3: 3}),
    ("7-collect_stats-failed-solve", stats_of_failed_solve, (0, 5)),
    ("7-collect_stats-failed-backward", stats_of_failed_backward, (True, 3)),
]
KEEPS_WORKING = [
    ("1-params-via-intermediate-inside-func", lambda: _agree(_module(WeightInside)), AGREE),
    ("1-non-leaf-param", lambda: _agree(_linear(lambda w: 2 * w,
                                                adjoint_params=lambda w, p: (p,))), AGREE),
    ("1-captured-tensor-without-grad", lambda: _agree(_module(ScaledLinear)), AGREE),
    ("1-func-ignores-z-and-theta", lambda: _agree(lambda: (lambda t, y: torch.ones_like(y), (),
                                                           _y0(), {})), AGREE),
    ("1-adjoint_params-generator", lambda: _agree(lambda: (m := ScaledLinear(), tuple(
        m.parameters()), _y0(), {"adjoint_params": m.parameters()})), AGREE),
    ("1-func-differentiates-w.r.t.-y", lambda: _agree(lambda: (_divergence_func(detach=False),
                                                               (), _y0(), {})), AGREE),
    ("1-func-own-leaf-nothing-requires-grad", lambda: y1(
        _divergence_func(detach=True), _y0(), solve=odeint_adjoint).requires_grad, False),
    ("3-odeint-second-derivative-in-a", odeint_second_derivative_in_a,
     Close(torch.full((2,), math.exp(0.5), dtype=F64), rtol=1e-7)),
    ("4-bfloat16-loose-tolerances", lambda: decay(torch.bfloat16, rtol=1e-2, atol=1e-3),
     half_bound(torch.bfloat16)),
    ("4-float16-loose-tolerances", lambda: decay(torch.float16, (1.0, 0.0), rtol=1e-3,
                                                 atol=1e-4), half_bound(torch.float16)),
    ("4-float32-default-tolerances", lambda: decay(torch.float32), Close(0.0, rtol=0, atol=1e-6)),
    ("5-tolerances-numpy-float64", lambda: y1(rtol=np.float64(1e-6), atol=np.float64(1e-6)),
     Close(math.exp(-1), rtol=1e-5)),
    ("7-backward-on-another-thread", stats_of_backward_on_another_thread, True),
]


@pytest.mark.parametrize("case,expected", [pytest.param(c, e, id=i)
                                           for i, c, e in CONTRACT + KEEPS_WORKING])
def test_contract(case, expected):
    check_row(case, expected)


def check_row(case, expected) -> None:
    """Run one table row: ``case()`` raises, agrees, is close to, or equals ``expected``
    (also the runner of ``test_hostile_inputs``'s table)."""
    if isinstance(expected, Raises):
        with pytest.raises(expected.exc, match=expected.match):
            case()
        return
    got = case()
    if expected is AGREE:
        adjoint, direct = got
        torch.testing.assert_close(adjoint, direct, rtol=1e-6, atol=1e-8)
    elif isinstance(expected, Close):
        want = expected.want() if callable(expected.want) else expected.want
        torch.testing.assert_close(torch.as_tensor(got, dtype=F64),
                                   torch.as_tensor(want, dtype=F64),
                                   rtol=expected.rtol, atol=expected.atol)
    else:
        assert got == expected
