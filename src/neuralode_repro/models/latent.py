"""Latent ODE (paper sec. 5, eqs. 11-13, Fig. 6), and the API of it and of its RNN
baseline (Table 2, :mod:`neuralode_repro.models.rnn`): :func:`build_model`, the loss and
the evaluation.

The latent ODE is a variational autoencoder for irregularly sampled time series:

    mu, log sigma^2 = RNN_enc({x_i, t_i})      recognition net, run backward in time  (11)
    z_t0 ~ q(z_t0 | ...) = N(mu, sigma^2)                                             (12)
    z_t1..z_tM = ODESolve(z_t0, f, theta_f, t0, ..., tM)                               (13)
    x_ti ~ p(x | z_ti) = N(decoder(z_ti), noise_std^2)

trained by maximising the ELBO  E_q[log p(x | z)] - KL(q(z_t0) || N(0, I)) (sec. 5,
appendix; torchdiffeq's example's known-noise Gaussian likelihood and analytic KL).
Times are relative to each spiral's window start, and z_t0 is the latent state there.

Models never own a training loop: each exposes ``loss(batch) -> (loss, logs)`` (or the
module function :func:`loss_fn` for :func:`neuralode_repro.training.fit`) and
``predict(batch)`` (reconstruction at the observed times, extrapolation at the future
ones); :func:`evaluate` turns a prediction into the RMSEs of Table 2.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..data.spirals import SpiralBatch
from ..solving import solve
from .mlp import MLPField, mlp
from .rnn import RNNBaseline
from .sequence import (
    LatentConfig,
    Prediction,
    gaussian_log_likelihood,
    recurrent_cell,
    time_gaps,
)


class RecognitionRNN(nn.Module):
    """q(z_t0 | x): an RNN over (x_i, t_i - t_{i-1}) pairs from the last observation to
    the first (eq. 11), so its final state summarises the sequence as seen from t0."""

    def __init__(self, obs_dim: int, hidden: int, latent_dim: int, cell: str):
        super().__init__()
        self.rnn = recurrent_cell(cell, obs_dim + 1, hidden)
        self.out = nn.Linear(hidden, 2 * latent_dim)

    def forward(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        seq = torch.cat([x, time_gaps(t)[..., None]], dim=-1).flip(1)  # (B, n, D+1)
        _, h = self.rnn(seq)  # (1, B, H)
        mean, logvar = self.out(h[0]).chunk(2, dim=-1)  # (B, L) each
        return mean, logvar


class LatentODEFunc(MLPField):
    """Autonomous latent dynamics dz/dt = f(z; theta_f): an ELU MLP (sec. 5.1) of
    ``layers`` hidden layers of ``hidden`` units."""

    def __init__(self, latent_dim: int, hidden: int, layers: int):
        super().__init__(latent_dim, [hidden] * layers)


class LatentODE(nn.Module):
    """The latent ODE VAE of sec. 5 (see the module docstring for eqs. 11-13)."""

    def __init__(self, cfg: LatentConfig, noise_std: float):
        super().__init__()
        self.cfg, self.noise_std = cfg, noise_std
        self.encoder = RecognitionRNN(cfg.obs_dim, cfg.rnn_hidden, cfg.latent_dim, cfg.encoder)
        self.func = LatentODEFunc(cfg.latent_dim, cfg.ode_hidden, cfg.ode_layers)
        self.decoder = mlp([cfg.latent_dim, cfg.decoder_hidden, cfg.obs_dim], nn.ReLU)

    def encode(self, batch: SpiralBatch) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z_t0 | observations), each (B, L)."""
        return self.encoder(batch.x_obs, batch.t_obs)

    def _from_zero(self, z0: Tensor, times: Tensor) -> Tensor:
        """z at ``times`` (T,), monotone away from 0 (all >= 0 rising or all < 0 falling):
        one solve from t=0, returns (T, B, L)."""
        if times.numel() == 0:
            return z0.new_zeros(0, *z0.shape)
        grid = times if bool(times[0] == 0) else torch.cat([times.new_zeros(1), times])
        if grid.numel() == 1:
            return z0[None]
        zs = solve(self.func, z0, grid, self.cfg.solver)  # (T', B, L)
        return zs[grid.numel() - times.numel():]

    def latent_trajectory(self, z0: Tensor, times: Tensor) -> Tensor:
        """z(t) from z(0) = z0 (B, L) at strictly increasing ``times`` (T,), which may be
        negative (solved backward from 0): (B, T, L). For Fig. 9's latent projection."""
        if times.dim() != 1 or (times.numel() > 1 and not bool((times.diff() > 0).all())):
            raise ValueError(f"times must be 1-D and strictly increasing, got {times}")
        neg, pos = times[times < 0], times[times >= 0]
        zs = torch.cat([self._from_zero(z0, neg.flip(0)).flip(0), self._from_zero(z0, pos)])
        return zs.transpose(0, 1)  # (B, T, L)

    def decode_path(self, z0: Tensor, times: Tensor) -> Tensor:
        """Decoded trajectory x(t) (B, T, D) from latent z0 (B, L), e.g. interpolations."""
        return self.decoder(self.latent_trajectory(z0, times))

    def _solve_at(self, z0: Tensor, t_obs: Tensor, t_future: Tensor) -> tuple[Tensor, Tensor]:
        """One solve over the sorted union of all the batch's times (eq. 13), then a
        gather: z at t_obs (B, n, L) and at t_future (B, F, L); F may be 0."""
        if bool((t_obs < 0).any()) or bool((t_future < 0).any()):
            raise ValueError("times must be >= 0 (relative to the window start, where z_t0 is)")
        grid = torch.unique(torch.cat([t_obs.reshape(-1), t_future]))  # (T,) sorted, distinct
        zs = self._from_zero(z0, grid)  # (T, B, L)
        rows = torch.arange(z0.shape[0], device=z0.device)[:, None]  # (B, 1)
        z_obs = zs[torch.searchsorted(grid, t_obs.contiguous()), rows]  # (B, n, L)
        return z_obs, zs[torch.searchsorted(grid, t_future)].transpose(0, 1)  # (B, F, L)

    def loss(self, batch: SpiralBatch) -> tuple[Tensor, dict[str, float]]:
        """Negative ELBO averaged over the batch, with one reparameterised sample of z_t0."""
        mean, logvar = self.encode(batch)
        z0 = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)  # (B, L)
        z_obs, _ = self._solve_at(z0, batch.t_obs, batch.t_future[:0])  # observed times only
        x_hat = self.decoder(z_obs)  # (B, n, D)
        logpx = gaussian_log_likelihood(batch.x_obs, x_hat, self.noise_std)  # (B,)
        kl = 0.5 * (logvar.exp() + mean**2 - 1 - logvar).sum(1)  # (B,) KL(q || N(0, I))
        elbo = logpx - kl
        logs = {"elbo": elbo.mean().item(), "logpx": logpx.mean().item(),
                "kl": kl.mean().item(), "recon_mse": ((x_hat - batch.x_obs) ** 2).mean().item()}
        return -elbo.mean(), logs

    @torch.no_grad()
    def predict(self, batch: SpiralBatch) -> Prediction:
        """Decode from the posterior mean of z_t0 at the observed and future times."""
        mean, _ = self.encode(batch)
        z_obs, z_fut = self._solve_at(mean, batch.t_obs, batch.t_future)
        return Prediction(self.decoder(z_obs), self.decoder(z_fut), z0_mean=mean)


SequenceModel = LatentODE | RNNBaseline


def build_model(cfg: LatentConfig, *, noise_std: float, gap_scale: float = 1.0
                ) -> SequenceModel:
    """The model named by ``cfg.model``. ``noise_std`` is the known observation noise of
    the likelihood; pass the data's (``SpiralConfig.noise_std``), the one source of it.
    ``gap_scale``: the RNN's mean training gap (:func:`mean_gap`); the latent ODE
    ignores it."""
    if not noise_std > 0:
        raise ValueError(f"noise_std must be > 0 for the Gaussian likelihood, got {noise_std}")
    if cfg.model == "latent_ode":
        return LatentODE(cfg, noise_std)
    return RNNBaseline(cfg, noise_std, gap_scale)


def mean_gap(t_obs: Tensor) -> float:
    """Mean gap between consecutive observation times of (B, n) sorted ``t_obs``."""
    if t_obs.shape[1] < 2:
        raise ValueError(f"a mean gap needs >= 2 observations per spiral, got {t_obs.shape[1]}")
    return float(t_obs.diff(dim=1).mean())


def loss_fn(model: SequenceModel, batch: SpiralBatch) -> tuple[Tensor, dict[str, float]]:
    """``(loss, logs)`` for :func:`neuralode_repro.training.fit`."""
    return model.loss(batch)


def rmse(pred: Tensor, target: Tensor) -> float:
    """Root-mean-squared error over every point and coordinate."""
    return float(torch.sqrt(((pred - target) ** 2).mean()))


def evaluate(model: SequenceModel, batch: SpiralBatch) -> dict[str, float]:
    """Table 2's predictive RMSE on the future points (vs. the noise-free spiral), and
    the reconstruction RMSE on the observed points (vs. noise-free and noisy values)."""
    pred = model.predict(batch)
    return {"pred_rmse": rmse(pred.future, batch.x_future),
            "recon_rmse": rmse(pred.recon, batch.x_obs_true),
            "recon_rmse_noisy": rmse(pred.recon, batch.x_obs)}
