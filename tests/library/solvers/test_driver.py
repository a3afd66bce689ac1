"""The one adaptive loop (solvers/driver.py), the controller's two parts, the one RK step
that the compiled path traces, and the public surface a solver outside the library
builds on (issue 34, item 4)."""

import ast
import math
from pathlib import Path

import pytest
import torch

import neuralode.solvers as ns
from neuralode import TABLEAUX
from neuralode._common import state_segments
from neuralode.solvers import compiled, rk, stages

ROOT = Path(__file__).resolve().parents[3]
F64 = torch.float64


class HeunEuler:
    """A stepper written with public names only: Heun's method with the Euler step as
    its embedded error estimate (order 2(1)), linear dense output."""

    def __init__(self, f, k0, rtol, atol):
        self.f, self.k0, self.rtol, self.atol = f, k0, rtol, atol

    def trial(self, t, y, dt, t1):
        self.t, self.y, self.dt = t, y, dt
        self.y1 = y + dt / 2 * (self.k0 + self.f(t1, y + dt * self.k0))
        scale = self.atol + self.rtol * torch.maximum(y.abs(), self.y1.abs())
        return ns.rms_norm((self.y1 - (y + dt * self.k0)) / scale, None)

    def accept(self):
        return self.y1

    def dense(self, t_out):
        return torch.lerp(self.y, self.y1, (t_out - self.t) / self.dt)

    def advance(self):
        self.k0 = self.f(self.t + self.dt, self.y1)


def _heun_euler(ts, max_num_steps=10_000, rtol=1e-6, atol=1e-8):
    counts = ns.StepCounts()

    def f(t, y):
        counts.nfe += 1
        return -y

    y0 = torch.tensor([1.0, 2.0], dtype=F64)
    k0, h = ns.first_step_of("heun_euler", f, y0, ts[0], ts[-1], rtol=rtol, atol=atol,
                             segments=None, q=2, hint=None)
    factor = ns.IController().start(2)
    ys, h = ns.drive("heun_euler", HeunEuler(f, k0, rtol, atol),
                     lambda h, dt, err, ok: h * factor(err, ok), y0, ts, h, counts=counts,
                     max_num_steps=max_num_steps)
    return torch.stack(ys), counts


def test_a_stepper_written_outside_the_library_runs_in_the_one_loop():
    ts = [0.0, 0.25, 1.0, 2.0]
    ys, counts = _heun_euler(ts)
    exact = torch.exp(-torch.tensor(ts, dtype=F64))[:, None] * torch.tensor([1.0, 2.0],
                                                                             dtype=F64)
    assert float((ys - exact).abs().max()) < 1e-5
    assert counts.accepted > 10 and counts.rejected >= 0
    # per accepted step: f(t1, y0 + dt k0) in the trial and f(t1, y1) after it
    assert counts.nfe == 2 + 2 * counts.accepted + counts.rejected


def test_the_loop_raises_with_the_method_name_and_the_counts():
    with pytest.raises(ns.SolverError, match=r"heun_euler: max_num_steps=3 exceeded at t="
                                             r".*accepted=3, rejected=0"):
        _heun_euler([0.0, 2.0], max_num_steps=3)


def test_controller_parts_and_the_fixed_order_factor_agree():
    pi = ns.PIController()
    assert pi.proposal(0.0, 5) == pi.ifactor and pi.proposal(math.nan, 5) == pi.dfactor
    assert pi.limit(0.5, True) == 1.0  # an accepted step is never followed by a shorter
    assert pi.limit(0.5, False) == 0.5 and pi.limit(50.0, False) == pi.ifactor
    factor = ns.IController().start(5)
    for err in (1e-9, 0.3, 1.0, 4.0, 0.0):
        ok = err <= 1.0
        assert factor(err, ok) == ns.IController().limit(ns.IController().proposal(err, 5), ok)
    assert factor(math.inf, False) == ns.IController().dfactor


def test_adams_takes_its_tuning_through_an_order_controller():
    solver = ns.make_solver("adams", {"ifactor": 3.0, "safety": 0.8})
    ctl = solver.controller
    assert ctl == ns.OrderController(safety=0.8, ifactor=3.0, dfactor=0.2)
    assert ctl.limit(0.5, True) == 0.5  # an accepted Adams step may shrink (order change)
    assert ctl.limit(1.5, False) == 0.8  # a retry is at most safety times the failed step
    # its proposal is the error-order exponent of Adams's own: safety err^(-1/(k+1))
    assert ctl.proposal(0.01, 3) == 0.8 * 0.01 ** (-1.0 / 3)


def test_segments_are_named_tuples_and_plain_tuples_read_the_same():
    segs = state_segments("sample", torch.Size([4, 3]), blocks=2)
    assert segs == [ns.Segment(0, 12, 4), ns.Segment(12, 24, 4)]
    assert segs[1].rows == 4 and ns.Segment(0, 5) == (0, 5, 1)
    x = torch.arange(12.0, dtype=F64)
    assert ns.rms_norm(x, [ns.Segment(0, 6, 3), ns.Segment(6, 12)]) == \
        ns.rms_norm(x, [(0, 6, 3), (6, 12)])
    assert ns.split_rows([ns.Segment(0, 6, 3)]) == [(0, 2), (2, 4), (4, 6)]


@pytest.mark.parametrize("method", ["dopri5", "bosh3", "cash_karp"])
def test_the_compiled_path_traces_the_eager_step(method):
    """compiled._step, run eagerly here, is rk_step with the compiled layout: the same
    step as each eager layout, up to rounding (the layouts sum in other orders)."""
    tab = TABLEAUX[method]
    y = torch.linspace(-1.0, 1.0, 6, dtype=F64)
    t, h = 0.3, 0.05

    def f(t, y):
        return torch.sin(y) * (1 + t)

    k0 = f(torch.tensor(t, dtype=F64), y)
    y1, K, err = compiled._step(f, (6,), tab, 1e-6, 1e-8, None, torch.tensor(t, dtype=F64), y,
                                torch.tensor(h, dtype=F64), k0)
    co = stages.Coeffs(tab, y)
    for lay in (stages.ListStages(co), stages.StackedStages(co), stages.BufferStages(co, y)):
        e1, eK, e_err = stages.rk_step(lambda t, y: f(torch.tensor(t, dtype=F64), y), lay, t,
                                       y, h, k0, 1e-6, 1e-8, None)
        torch.testing.assert_close(e1, y1, rtol=1e-14, atol=1e-15)
        eK = torch.stack(eK, dim=1) if isinstance(eK, list) else eK
        torch.testing.assert_close(eK, K, rtol=1e-14, atol=1e-15)
        assert e_err == pytest.approx(float(err), rel=1e-10)
    assert rk.LARGE_STATE > 6  # the eager solver would pick a matrix layout here


def test_the_pipelines_solver_imports_nothing_private():
    """vode_adams, a solver outside the library, builds on public names only."""
    tree = ast.parse((ROOT / "src/neuralode_repro/vode.py").read_text(encoding="utf-8"))
    private = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("neuralode."):
            private += [f"{node.module}.{a.name}" for a in node.names
                        if a.name.startswith("_") or any(p.startswith("_") for p in
                                                         node.module.split("."))]
    assert not private, private
    assert {"parse_options", "positive"} <= set(ns.__all__)


@pytest.mark.parametrize("method", ["dopri5", "bosh3"])
def test_an_accepted_step_drops_its_start_and_stages_before_the_next_trial(method):
    """After its outputs, a step's start y and stages K are dropped (the stepper held
    them into the next trial: one state and s stages more at the peak, measured +8% of
    an ODE-Net's adjoint training step); k0 moves on, the new state is the driver's."""
    f = lambda t, y: -y  # noqa: E731
    y0 = torch.ones(3, dtype=F64)
    stepper = rk._Stepper(TABLEAUX[method], f, f(0.0, y0), 1e-6, 1e-6, None,
                          ns.StepCounts(), None, y0)
    assert stepper.trial(0.0, y0, 0.01, 0.01) <= 1.0
    y1 = stepper.accept()
    stepper.dense(0.005)
    stepper.advance()
    assert stepper.y is None and stepper.K is None
    assert stepper.k0 is not None and torch.allclose(y1, torch.full_like(y1, math.exp(-0.01)))
    assert stepper.trial(0.01, y1, 0.01, 0.02) <= 1.0  # the next step needs neither
