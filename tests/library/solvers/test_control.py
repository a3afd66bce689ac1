"""Step-size control and output, by behaviour (Hairer, Norsett, Wanner I, sec. II.4):
the PI controller, a given first step, the adjoint's seminorm, and the output between
the grid points of a fixed-step solver."""

import math

import pytest
import torch

from neuralode import collect_stats, odeint, odeint_adjoint


def _stiffish(t, y):
    # y' = -50 (y - cos t): explicit steps are limited by stability, where the I
    # controller oscillates (accept, reject, ...) and PI damps it (Hairer II, IV.2).
    return -50.0 * (y - torch.cos(t))


def _stiffish_exact(t: float) -> float:  # y(0) = 0
    return (2500 * math.cos(t) + 50 * math.sin(t) - 2500 * math.exp(-50 * t)) / 2501


def test_pi_controller_rejects_fewer_steps_where_i_oscillates(f64):
    """Measured at tol 1e-3: I rejects 31 of 187 steps, PI 9 of 171; both accurate."""
    rejected = {}
    for controller in ("I", "PI"):
        with collect_stats() as s:
            y = odeint(_stiffish, torch.zeros(1), torch.tensor([0.0, 10.0]), rtol=1e-3,
                       atol=1e-3, options={"controller": controller})
        assert abs(float(y[-1, 0]) - _stiffish_exact(10.0)) < 1e-2, controller
        rejected[controller] = s.steps_rejected
    assert rejected["PI"] < rejected["I"] / 2, rejected


@pytest.mark.parametrize("first_step", [0.01, 2.0])
def test_first_step_is_the_first_trial_step(f64, first_step):
    """With ``first_step`` the first trial step is exactly it (dopri5's second stage is
    at t0 + h/5), with no probing evaluation; too large a one is rejected, not taken."""
    times = []

    def f(t, y):
        times.append(float(t))
        return -y

    with collect_stats() as s:
        y = odeint(f, torch.ones(1), torch.tensor([0.0, 2.0]), rtol=1e-6, atol=1e-8,
                   options={"first_step": first_step})
    assert times[1] == pytest.approx(first_step / 5)
    assert abs(float(y[-1, 0]) - math.exp(-2.0)) < 1e-6
    assert (s.steps_rejected > 0) == (first_step == 2.0)


def test_seminorm_saves_backward_steps_at_the_same_gradient(f64):
    """The seminorm leaves the parameter adjoint out of the error norm (Kidger et al.
    2021): measured at tol 1e-7, 32 -> 26 backward NFE, the same gradient."""
    torch.manual_seed(0)
    func = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))
    y0 = torch.randn(16, 2)
    nfe, grads = {}, {}
    for seminorm in (False, True):
        func.zero_grad()
        with collect_stats() as s:
            y = odeint_adjoint(lambda t, z: func(z), y0, torch.tensor([0.0, 1.0]), rtol=1e-7,
                               atol=1e-7, seminorm=seminorm, adjoint_params=func.parameters())
            y[-1].pow(2).sum().backward()
        nfe[seminorm] = s.nfe_backward
        grads[seminorm] = torch.cat([p.grad.flatten() for p in func.parameters()])
    assert nfe[True] < nfe[False], nfe
    # both as accurate as the tolerance allows: equal to 1e-5, relative to the norm
    diff = torch.linalg.vector_norm(grads[True] - grads[False])
    assert diff < 1e-5 * torch.linalg.vector_norm(grads[False]), float(diff)


def _rotation(t, y):  # y = (cos t^2, sin t^2)
    return 2.0 * t * torch.stack([-y[1], y[0]])


def test_fixed_grid_output_between_grid_points(f64):
    """rk4 on a fixed grid, read at every grid midpoint: the cubic Hermite interpolant
    keeps the solver's 4th order (error ratio ~16 per halving of h) and adds no step
    (the grid is the step size's, whatever the output times)."""
    errors = []
    for n in (10, 20, 40):
        t = torch.cat([torch.tensor([0.0]), (torch.arange(n) + 0.5) / n, torch.tensor([1.0])])
        with collect_stats() as s:
            y = odeint(_rotation, torch.tensor([1.0, 0.0]), t, method="rk4",
                       options={"step_size": 1.0 / n})
        with collect_stats() as ends_only:
            odeint(_rotation, torch.tensor([1.0, 0.0]), t[[0, -1]], method="rk4",
                   options={"step_size": 1.0 / n})
        # the same grid; at most one more evaluation, f(t1, y1) for the last cell
        assert s.steps_accepted == ends_only.steps_accepted == n
        assert s.nfe_forward <= ends_only.nfe_forward + 1, n
        exact = torch.stack([torch.cos(t * t), torch.sin(t * t)], dim=-1)  # (T, 2)
        errors.append(float(torch.linalg.vector_norm(y[1:-1] - exact[1:-1], dim=-1).max()))
    orders = [math.log2(a / b) for a, b in zip(errors, errors[1:], strict=False)]
    assert all(3.7 < p < 4.5 for p in orders), (errors, orders)


def test_a_controller_object_is_the_named_one(f64):
    """``controller="PI"`` with its options and a ``PIController`` instance take the same
    steps; a custom beta is honoured (a different step sequence)."""
    from neuralode.solvers import IController, PIController

    t = torch.tensor([0.0, 10.0])
    runs = {}
    for key, ctl in {"PI": "PI", "obj": PIController(), "I-obj": IController(),
                     "beta": PIController(beta=0.08)}.items():
        with collect_stats() as s:
            odeint(_stiffish, torch.zeros(1), t, rtol=1e-3, atol=1e-3,
                   options={"controller": ctl})
        runs[key] = (s.steps_accepted, s.steps_rejected)
    with collect_stats() as s:
        odeint(_stiffish, torch.zeros(1), t, rtol=1e-3, atol=1e-3)
    assert runs["PI"] == runs["obj"]
    assert runs["I-obj"] == (s.steps_accepted, s.steps_rejected)  # "I" is the default
    assert runs["beta"] != runs["PI"]


@pytest.mark.parametrize(("options", "match"), [
    ({"controller": "PI", "safety": 1.5}, "safety <= 1"),
    ({"controller": "PI", "dfactor": 2.0}, "dfactor < 1 < ifactor"),
    ({"controller": 3}, "must be one of"),
])
def test_bad_controller_options(options, match):
    from neuralode.solvers import make_solver

    with pytest.raises(ValueError, match=match):
        make_solver("dopri5", options)


def test_controller_instance_with_named_tuning_is_an_error():
    from neuralode.solvers import IController, PIController, make_solver

    with pytest.raises(ValueError, match=r"options \['safety'\] configure a named controller"):
        make_solver("dopri5", {"controller": PIController(), "safety": 0.8})
    with pytest.raises(ValueError, match="IController has beta = 0"):
        IController(beta=0.1)


def test_a_pair_without_fsal_pays_one_evaluation_more_per_step(f64):
    """Cash-Karp (6 stages, no FSAL): each accepted step costs 6 evaluations (5 new
    stages, and f(t1, y1) for the next step's first), a rejected one 5; dopri5 (7
    stages, FSAL) costs 6 either way. Both counted from first evaluation to last."""
    t = torch.tensor([0.0, 3.0])
    for method, per_accepted, per_rejected in (("cash_karp", 6, 5), ("dopri5", 6, 6)):
        with collect_stats() as s:
            y = odeint(lambda t, y: -y, torch.ones(1), t, method=method, rtol=1e-8,
                       atol=1e-10, options={"first_step": 0.1})
        assert abs(float(y[-1, 0]) - math.exp(-3.0)) < 1e-7, method
        # 1: f(t0, y0) before the first step
        assert s.nfe_forward == 1 + per_accepted * s.steps_accepted \
            + per_rejected * s.steps_rejected, (method, s)
