"""Re-measuring at a tight tolerance (issue 33, item 7): experiments/tight.py swaps the
solver of every latent ODE and ODE block and restores it; a latent ODE's scores at the
tight solver, beside its training one; the ODE-Net's test error in nfe_study."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from neuralode_repro.config import SolverConfig, parse
from neuralode_repro.data.spirals import SpiralConfig, generate_spirals
from neuralode_repro.experiments.latent import evaluate_saved
from neuralode_repro.experiments.nfe_study import tight_error
from neuralode_repro.experiments.tight import solved_by
from neuralode_repro.models.latent import LatentConfig, build_model
from neuralode_repro.models.mnist import MnistModelConfig
from neuralode_repro.models.mnist import build_model as build_mnist

TIGHT = SolverConfig(rtol=1e-6, atol=1e-6, adjoint=False)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    cfg = parse(SpiralConfig, {"n_spirals": 16, "n_obs": [30], "test_fraction": 0.25})
    return generate_spirals(cfg, seed=0)


def _latent(kind: str):
    torch.manual_seed(0)
    cfg = parse(LatentConfig, {"model": kind, "solver": {"rtol": 1e-2, "atol": 1e-2,
                                                         "adjoint": False}})
    return build_model(cfg, noise_std=0.1)


def test_solved_by_swaps_every_solve_and_restores_it_even_on_error():
    model = _latent("latent_ode")
    before = model.cfg
    with solved_by(model, TIGHT) as swapped:
        assert swapped == 1 and model.cfg.solver == TIGHT
        assert dataclasses.replace(model.cfg, solver=before.solver) == before
    assert model.cfg is before
    with pytest.raises(RuntimeError, match="boom"), solved_by(model, TIGHT):
        raise RuntimeError("boom")
    assert model.cfg is before
    with solved_by(_latent("rnn"), TIGHT) as swapped:
        assert swapped == 0  # an RNN solves no ODE
    net = build_mnist(parse(MnistModelConfig, {"kind": "odenet", "width": 4,
                                               "solver": {"rtol": 1e-2, "atol": 1e-2}}))
    old = net.features.solver
    with solved_by(net, TIGHT) as swapped:
        assert swapped == 1 and net.features.solver == TIGHT
    assert net.features.solver is old


def test_a_latent_ode_is_scored_again_at_the_tight_solver(data):
    """A loose training solver (1e-2): the tight scores differ and cost more NFE; without
    ``tight``, or for an RNN, no tight scores."""
    model = _latent("latent_ode")
    scores = evaluate_saved(model, data, 30, CPU, TIGHT)
    assert scores["test_nfe_forward_tight"] > scores["test_nfe_forward"] > 0
    assert scores["pred_rmse_tight"] != scores["pred_rmse"]
    assert scores["pred_rmse_tight"] == pytest.approx(scores["pred_rmse"], rel=0.2)
    assert "pred_rmse_tight" not in evaluate_saved(model, data, 30, CPU)
    assert "pred_rmse_tight" not in evaluate_saved(_latent("rnn"), data, 30, CPU, TIGHT)
    assert model.cfg.solver.rtol == 1e-2  # restored


def test_the_odenet_test_error_at_both_solvers():
    torch.manual_seed(0)
    net = build_mnist(parse(MnistModelConfig, {"kind": "odenet", "width": 4,
                                               "solver": {"rtol": 1e-1, "atol": 1e-1}}))
    x, y = torch.randn(12, 1, 28, 28), torch.randint(0, 10, (12,))
    out = tight_error(net, net.features.solver, DataLoader(TensorDataset(x, y), 6), 1e-6)
    assert set(out) == {"test_error_train_solver", "test_nfe_forward_train_solver",
                        "test_error_tight", "test_nfe_forward_tight"}
    assert out["test_nfe_forward_tight"] > out["test_nfe_forward_train_solver"] > 0
    assert 0 <= out["test_error_tight"] <= 100
    assert net.features.solver.rtol == 1e-1  # restored
