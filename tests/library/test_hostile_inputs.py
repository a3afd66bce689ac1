"""Issue 32's library cases, found by trying the API as a hostile user would: a ``func``
that goes wrong after its first call, arguments of the wrong type, a span shorter than
the time resolution. Each row failed on the old code (a silently wrong answer, an
error that did not name the argument, or a spurious error); the table runs them like
``test_library_contract``'s.
"""

import math

import pytest
import torch

from neuralode import SolverError, SolverStats, odeint, odeint_adjoint
from neuralode.solvers import TABLEAUX
from neuralode.solvers import compiled as compiled_step

from .test_library_contract import Close, Raises, check_row

F64 = torch.float64
T5 = torch.linspace(0, 1, 5, dtype=F64)


def turns_bad(after: int, bad, calls: list[int] | None = None):
    """``-y`` for the first ``after`` evaluations, then ``bad(y)``."""
    calls = [0] if calls is None else calls

    def func(t, y):
        calls[0] += 1
        return -y if calls[0] <= after else bad(y)
    return func


def to_one_row(y):  # the example: broadcast back into the state without a check
    return -y.sum(0, keepdim=True)


def solve(method="dopri5", after=5, bad=to_one_row, grad=False, solver=odeint, **kw):
    y0 = torch.ones(3, dtype=F64, requires_grad=grad)
    with torch.set_grad_enabled(grad):
        out = solver(turns_bad(after, bad), y0, T5, method=method, **kw)
        if grad:
            out[-1].sum().backward()
    return out


def adjoint_backward_bad():
    """Right in the forward solve (no autograd), a wrong shape in the backward's."""
    def func(t, y):
        return -y[..., :1] if torch.is_grad_enabled() else -y
    y0 = torch.ones(3, 2, dtype=F64, requires_grad=True)
    odeint_adjoint(func, y0, T5)[-1].sum().backward()


def time_gradient_bad():
    """Right in the solve, a wrong shape where odeint differentiates w.r.t. t."""
    def func(t, y):
        return -y[:1] if t.requires_grad else -y
    t = T5.clone().requires_grad_(True)
    odeint(func, torch.ones(3, dtype=F64), t)[-1].sum().backward()


def compiled_step_bad():
    """The compiled RK step's own check, run eagerly (compiling takes seconds; the
    compiled graph runs this same code, see test_compiled_step_checks_every_call)."""
    y = torch.ones(3, dtype=F64)
    zero, h = torch.zeros((), dtype=F64), torch.tensor(0.1, dtype=F64)
    return compiled_step._step(lambda t, y: -y[:1], (3,), TABLEAUX["dopri5"], 1e-6, 1e-8,
                               None, zero, y, h, -y)


def counted_then_raises(**kw):
    """How many evaluations ran before the argument error (none: checked first)."""
    calls = [0]
    with pytest.raises((TypeError, ValueError)):
        odeint(turns_bad(10**9, None, calls), torch.ones(2), T5.float(), **kw)
    return calls[0]


def tiny_span(method):
    """y' = 1 on [0, 1e-20]: y(1e-20) = 1e-20, in one step below the step-size floor."""
    y0 = torch.zeros(2, dtype=F64)
    t = torch.tensor([0.0, 1e-20], dtype=F64)
    return odeint(lambda t, y: torch.ones_like(y), y0, t, method=method)[-1, 0]


SHAPE = r"func\(t, y\) \(evaluation 6 of the solve, at t=.*\) returned shape \(1,\), " \
        r"expected the state's shape \(3,\)"
CASES = [
    # 1. every evaluation is checked, not the first only
    ("1-shape-changes-euler", lambda: solve("euler", after=2),
     Raises(ValueError, SHAPE.replace("evaluation 6", "evaluation 3"))),
    ("1-shape-changes-dopri5-no_grad", lambda: solve(), Raises(ValueError, SHAPE)),
    ("1-shape-changes-adams", lambda: solve("adams"), Raises(ValueError, SHAPE)),
    ("1-shape-changes-adjoint", lambda: solve(grad=True, solver=odeint_adjoint),
     Raises(ValueError, SHAPE)),
    ("1-shape-changes-rk4-autograd", lambda: solve("rk4", grad=True, options={
        "step_size": 0.1}), Raises(ValueError, SHAPE)),
    ("1-dtype-changes-autograd", lambda: solve(grad=True, bad=lambda y: (-y).float()),
     Raises(TypeError, r"func\(t, y\) \(evaluation 6 .*\) returned dtype torch.float32, "
                       r"but the state y0 is torch.float64")),
    ("1-device-changes", lambda: solve(bad=lambda y: torch.zeros(3, dtype=F64, device="meta")),
     Raises(ValueError, r"\(evaluation 6 .*\) returned a tensor on meta, but the state y0 "
                        r"is on cpu")),
    ("1-shape-in-adjoint-backward", adjoint_backward_bad,
     Raises(ValueError, r"func\(t, y\) \(evaluation \d+ of the solve, at t=1\) returned "
                        r"shape \(3, 1\), expected the state's shape \(3, 2\)")),
    ("1-shape-in-time-gradient", time_gradient_bad,
     Raises(ValueError, r"returned shape \(1,\), expected the state's shape \(3,\)")),
    ("1-shape-in-compiled-step", compiled_step_bad,
     Raises(ValueError, r"func\(t, y\) \(in a compiled step\) returned shape \(1,\)")),
    # 2. a list after a few calls
    ("2-list-later", lambda: solve(bad=lambda y: [-y]),
     Raises(TypeError, r"func\(t, y\) \(evaluation 6 .*\) must return a Tensor, got list")),
    # 3. stats checked before any work
    ("3-odeint-stats-dict", lambda: odeint(lambda t, y: -y, torch.ones(1), T5.float(),
                                           stats={}),
     Raises(TypeError, r"stats must be a neuralode.SolverStats or None, got dict \{\}")),
    ("3-adjoint-stats-dict", lambda: odeint_adjoint(lambda t, y: -y, torch.ones(1),
                                                    T5.float(), stats={}),
     Raises(TypeError, r"stats must be a neuralode.SolverStats or None, got dict")),
    ("3-stats-checked-before-any-evaluation", lambda: counted_then_raises(stats={}), 0),
    # weak: options of the wrong type, inherited adjoint options, a tiny span
    ("w-options-int", lambda: odeint(lambda t, y: -y, torch.ones(1), T5.float(), options=5),
     Raises(TypeError, r"options must be a dict of solver options or None, got int 5")),
    ("w-options-str", lambda: odeint(lambda t, y: -y, torch.ones(1), T5.float(),
                                     options="abc"),
     Raises(TypeError, r"options must be a dict .*got str 'abc'")),
    ("w-adjoint_options-int", lambda: odeint_adjoint(lambda t, y: -y, torch.ones(1),
                                                     T5.float(), adjoint_options=5),
     Raises(TypeError, r"backward solve \(adjoint_method='dopri5', adjoint_options=5\): "
                       r"options must be a dict")),
    ("w-adjoint-inherits-step_size", lambda: odeint_adjoint(
        lambda t, y: -y, torch.ones(1), T5.float(), method="rk4",
        options={"step_size": 0.1}, adjoint_method="dopri5"),
     Raises(ValueError, r"adjoint_options=None, so it takes the forward's options="
                        r"\{'step_size': 0.1\}\): unknown option\(s\) \['step_size'\] for "
                        r"method 'dopri5'.*adjoint_options=\{\}")),
    ("w-tiny-span-dopri5", lambda: tiny_span("dopri5"), Close(1e-20, rtol=1e-12, atol=0)),
    ("w-tiny-span-adams", lambda: tiny_span("adams"), Close(1e-20, rtol=1e-12, atol=0)),
]
KEEPS_WORKING = [
    ("stats-object", lambda: (odeint(lambda t, y: -y, torch.ones(1), T5.float(),
                                     stats=(s := SolverStats())), s.nfe_forward > 0)[1], True),
    ("options-none-and-empty", lambda: float(odeint(lambda t, y: -y, torch.ones(1, dtype=F64),
                                                    T5, options={})[-1, 0]),
     Close(math.exp(-1), rtol=1e-6)),
    # a nan derivative past t=0.5 still ends in the step-size floor, not a tiny last step
    ("underflow-still-raised", lambda: odeint(
        lambda t, y: y * (math.nan if t > 0.5 else 1.0), torch.ones(1), T5.float()),
     Raises(SolverError, r"step size underflow at t=0.5")),
    ("tiny-span-of-a-blow-up-says-so", lambda: odeint(
        lambda t, y: y * math.nan if t > 0 else y, torch.ones(1, dtype=F64),
        torch.tensor([0.0, 1e-20], dtype=F64)),
     Raises(SolverError, r"the span \[0, 1e-20\] is itself below the time resolution")),
]


@pytest.mark.parametrize("case,expected", [pytest.param(c, e, id=i)
                                           for i, c, e in CASES + KEEPS_WORKING])
def test_hostile(case, expected):
    check_row(case, expected)


@pytest.mark.slow
def test_compiled_step_checks_every_call():
    """The real compiled solve: a func that goes wrong after t = 0.3 raises (~40 s of
    compilation on 2 cores, hence slow)."""
    def func(t, y):
        return -y if t < 0.3 else -y[:1]
    with torch.no_grad(), pytest.raises(ValueError, match=r"returned shape \(1,\)"):
        odeint(func, torch.ones(3), torch.linspace(0, 1, 5), options={"compile": True})
