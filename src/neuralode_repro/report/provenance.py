"""Where each setting of an experiment comes from: the paper, a named later example,
or ours. Each table's middle column is filled from this run's config ({...} fields),
so a changed param shows up in the report; the source column says whose choice the
default is. "the example": a torchdiffeq example (examples/latent_ode.py,
odenet_mnist.py, cnf.py), later re-creations by contributors: the authors' autograd
code was never released."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from .blocks import Block, Para, Table

Rows = Sequence[tuple[str, str, str]]

LATENT = (
    ("spirals", "{n_spirals}, half clockwise; {n_obs} irregular observations each",
     "paper (1000 spirals; n = 30, 50, 100)"),
    ("curves", "counter-clockwise Archimedean r = a + bθ, clockwise hyperbolic "
     "r = a + {cw_scale} b / θ", "the example (paper: not stated)"),
    ("time span and grid", "{n_total} points on [{t_start:.3g}, {t_stop:.3g}]",
     "span: the example; grid: ours (the example uses 500)"),
    ("observation noise σ", "{noise_std}", "the example's function default (its "
     "`__main__` passes 0.3; paper: not stated)"),
    ("window", "{n_window} observed + {n_future} future grid points",
     "paper (100 equally spaced timesteps); the split is ours"),
    ("predictive RMSE", "over the {n_future} future points against the noise-free curve, "
     "test spirals", "ours (paper: not defined)"),
    ("model sizes", "latent 4, RNN 25, f and decoder 20 hidden", "paper (appendix)"),
    ("RNN baseline", "an RNN over {rnn_inputs}, 25 units; extrapolated {rnn_rollout}",
     "inputs: paper (two variants, with and without the time gap; `time_input`); the gap "
     "normalised by the mean training gap and the rollout (`rollout`): ours"),
    ("training budget", "{iterations} iterations × batch {batch_size}",
     "ours (the example: 2000 full-batch steps; paper: not stated)"),
)

MNIST = (
    ("architecture", "{downsampling} downsampling, width {width}, {norm} norm; ResNet "
     "{n_res_blocks} residual blocks; ODE-Net and RK-Net one ODE block on [0, {t1}]",
     "paper sec. 3 (6 residual blocks, replaced by one ODESolve); widths and downsampling: "
     "the example (odenet_mnist.py)"),
    ("gradients", "ODE-Net: adjoint; RK-Net: backprop through the solver",
     "paper (sec. 2, Table 1)"),
    ("solver", "{method}, rtol {rtol}, atol {atol}", "ours (paper: not stated)"),
    ("optimiser", "SGD lr {lr}, momentum {momentum}, batch {batch_size}, {schedule} "
     "schedule", "lr, momentum and batch: the example; the schedule: ours (few epochs)"),
    ("training budget", "{epochs} epoch(s), {n_seeds} seed(s)",
     "ours (the example: 160 epochs)"),
    ("preprocessing", "augmentation: {augment}; normalisation: {normalize}",
     "ours (the example: random crops, no normalisation; paper: not stated)"),
    ("1-layer MLP", "784-{mlp_hidden}-10", "the paper's reference (LeCun et al. 1998)"),
)

CNF = (
    ("ML targets", "two moons (noise {moons_noise}), two circles (noise {circles_noise}, "
     "factor {factor})", "paper Fig. 5 shows both; noise and factor: ours (not stated)"),
    ("CNF (ML)", "M = {M} units, hypernetwork {hidden} wide, t ∈ [0, {t1}], base "
     "N(0, {base_std}² I), units {units}, gate per {gate}",
     "M = 64: paper; hypernetwork: the example; t1, base, sum over units and one gate "
     "per unit: ours (the authors' gist: mean, per dimension, t1 = 10)"),
    ("planar NF (ML)", "K = {K} layers", "paper (Fig. 5)"),
    ("ML budget", "CNF {cnf_steps} Adam iterations, NF {nf_steps}",
     "ours (paper: CNF 10,000, NF 500,000 RMSprop iterations)"),
    ("capacity target", "{cap_target}", "ours: the paper does not name Figure 4's targets"),
    ("capacities", "K = M ∈ {widths}", "paper (Fig. 4)"),
    ("NLL and KL", "dopri5 at rtol = atol = {eval_tol}", "ours (tight, so that the "
     "training tolerance cannot bias the score)"),
)

TOY = (
    ("systems", "{systems}: one trajectory of {n_points} noisy points (σ {noise_std}) "
     "on [0, {t_max}], z0 = {z0}", "the tutorial notebook"),
    ("training", "sub-spans of {min_span}-{max_span} time units, ≤ {max_points} points; "
     "linear: {linear_steps} steps × {restarts} restarts, nonlinear: {nonlinear_steps} "
     "steps", "the notebook's sampling; steps and restarts: ours (the notebook: 500 "
     "steps at lr 0.01)"),
    ("solver", "{method}, rtol {rtol}, atol {atol}, adjoint", "ours (the notebook: "
     "its own RK solvers)"),
    ("recovery bound", "‖A − A_true‖_F < 0.1", "ours (the notebook reports no number)"),
)


def table(rows: Rows, values: Mapping[str, Any]) -> list[Block]:
    """The provenance table of ``rows`` with this run's ``values`` filled in."""
    return [Para("Where each setting comes from:"),
            Table(("setting", "this run", "source"),
                  tuple((name, value.format(**values), source)
                        for name, value, source in rows))]


def flat(obj: Any) -> dict[str, Any]:
    """A config dataclass as a flat dict of its leaf fields (last name wins)."""
    out: dict[str, Any] = {}
    for key, value in (dataclasses.asdict(obj) if dataclasses.is_dataclass(obj)
                       else obj).items():
        if isinstance(value, dict):
            out.update(flat(value))
        else:
            out[key] = value
    return out
