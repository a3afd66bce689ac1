"""What the latent ODE (paper sec. 5) and its RNN baseline (Table 2) share: their
config, their prediction, the time gaps they read, the known-noise Gaussian
likelihood they are trained under, and the recurrent cell (of the latent ODE's
recognition net, or of the RNN itself). The models: :mod:`neuralode_repro.models.latent`
and :mod:`neuralode_repro.models.rnn`."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
from torch import Tensor, nn

from ..config import SolverConfig, num


@dataclasses.dataclass(frozen=True)
class LatentConfig:
    """``train_latent.<variant>``: the model; defaults are the paper's sizes (sec. 5.1).

    ``encoder`` is the recurrent cell (of the recognition net, or of the RNN baseline).
    The paper: rnn, latent 4, 25 hidden, f and decoder with one 20-unit hidden layer.
    The tutorial notebook's variant: ``encoder: gru, latent_dim: 6, rnn_hidden: 64,
    ode_hidden: 64, ode_layers: 2, decoder_hidden: 64``. torchdiffeq's example's f has
    ``ode_layers: 2``. ``time_input`` and ``rollout`` shape the RNN baseline only (see
    :class:`RNNBaseline`).
    """

    model: Literal["latent_ode", "rnn"] = "latent_ode"
    obs_dim: int = num(2, ge=1)
    latent_dim: int = num(4, ge=1)
    encoder: Literal["rnn", "gru"] = "rnn"
    rnn_hidden: int = num(25, ge=1)
    ode_hidden: int = num(20, ge=1)
    ode_layers: int = num(1, ge=1)
    decoder_hidden: int = num(20, ge=1)
    solver: SolverConfig = dataclasses.field(default_factory=SolverConfig)
    time_input: Literal["gap", "none"] = "gap"
    rollout: Literal["mean_gap", "grid"] = "mean_gap"

    def validate(self) -> None:
        if self.time_input == "none" and self.rollout == "grid":
            raise ValueError("rollout: 'grid' steps to each future time, which an RNN "
                             "without a time input cannot tell from an observation gap; "
                             "use rollout: mean_gap or time_input: gap")


@dataclasses.dataclass(frozen=True)
class Prediction:
    """``recon`` (B, n, D) at the observed times, ``future`` (B, F, D) at the future ones;
    ``z0_mean`` (B, L) for the latent ODE (posterior mean used for the prediction)."""

    recon: Tensor
    future: Tensor
    z0_mean: Tensor | None = None


def time_gaps(t: Tensor) -> Tensor:
    """Gaps t_i - t_{i-1} of (B, n) sorted times, the first measured from the start t=0."""
    return torch.diff(t, dim=1, prepend=torch.zeros_like(t[:, :1]))  # (B, n)


def gaussian_log_likelihood(x: Tensor, mean: Tensor, std: float) -> Tensor:
    """log N(x | mean, std^2) summed over all but the batch dimension: (B,)."""
    logp = -0.5 * (math.log(2 * math.pi * std**2) + (x - mean) ** 2 / std**2)
    return logp.flatten(1).sum(1)


def recurrent_cell(kind: str, inputs: int, hidden: int) -> nn.Module:
    """The recurrent cell ``kind`` (``rnn``: tanh RNN, ``gru``), batch first."""
    return (nn.GRU if kind == "gru" else nn.RNN)(inputs, hidden, batch_first=True)
