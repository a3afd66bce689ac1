"""The RNN baseline of paper Table 2, beside the latent ODE
(:mod:`neuralode_repro.models.latent`); its diagnostics are in
:mod:`neuralode_repro.models.rnn_diagnostics`."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..data.spirals import SpiralBatch
from .sequence import (
    LatentConfig,
    Prediction,
    gaussian_log_likelihood,
    recurrent_cell,
    time_gaps,
)


class RNNBaseline(nn.Module):
    """The RNN baseline of Table 2: an RNN over observations, with or without the time
    gap as a second input (``time_input``: ``gap`` or ``none``).

    Step i reads the previous value, and (``gap``) the gap to the time it predicts
    divided by ``gap_scale``, the mean gap between training observations, so that
    the input is O(1) at any n and grid: (x_{i-1}, (t_i - t_{i-1}) / gap_scale) with
    x_{-1} = 0 and t_{-1} = 0; a linear readout of its state predicts x_i. Training is
    teacher-forced one-step-ahead prediction of the observed points under the same
    known-noise Gaussian likelihood as the latent ODE (it never sees the future points).
    The first point has no predecessor to predict it from, so it is left out of the
    likelihood, and its "reconstruction" is the observation the RNN reads.
    Reconstructions are the one-step-ahead predictions.

    Extrapolation continues from the last observation autoregressively, each prediction
    fed back as the next input. ``rollout: mean_gap`` (ours, the default) steps as
    training did: gaps of ``gap_scale`` (the mean training gap; the only step an RNN
    without time input knows), then reads the future times off the piecewise-linear
    path through the last observation and the predictions. ``rollout: grid`` steps to
    each future time in turn (one grid step each, ~1/3 of the mean training gap at
    n = 30, and 100 steps instead of ~30: measured, that mismatch alone doubled the
    RNN's n = 30 RMSE); it needs ``time_input: gap``.
    """

    def __init__(self, cfg: LatentConfig, noise_std: float, gap_scale: float = 1.0):
        super().__init__()
        if not gap_scale > 0:
            raise ValueError(f"gap_scale must be > 0 (the mean training gap), got {gap_scale}")
        self.cfg, self.noise_std, self.gap_scale = cfg, noise_std, float(gap_scale)
        inputs = cfg.obs_dim + (cfg.time_input == "gap")
        self.rnn = recurrent_cell(cfg.encoder, inputs, cfg.rnn_hidden)
        self.readout = nn.Linear(cfg.rnn_hidden, cfg.obs_dim)

    def _inputs(self, x: Tensor, gaps: Tensor) -> Tensor:
        """(B, T, D) values and (B, T) gaps -> (B, T, D [+ 1]) RNN inputs."""
        if self.cfg.time_input == "none":
            return x
        return torch.cat([x, (gaps / self.gap_scale)[..., None]], -1)

    def _teacher_forced(self, batch: SpiralBatch) -> tuple[Tensor, Tensor]:
        prev = torch.cat([torch.zeros_like(batch.x_obs[:, :1]), batch.x_obs[:, :-1]], 1)
        out, h = self.rnn(self._inputs(prev, time_gaps(batch.t_obs)))
        return self.readout(out), h  # (B, n, D), (1, B, H)

    def loss(self, batch: SpiralBatch) -> tuple[Tensor, dict[str, float]]:
        """Negative log-likelihood of the one-step-ahead predictions, batch mean."""
        x_hat, _ = self._teacher_forced(batch)
        x_hat, target = x_hat[:, 1:], batch.x_obs[:, 1:]  # x_0 has nothing to predict it
        nll = -gaussian_log_likelihood(target, x_hat, self.noise_std).mean()
        return nll, {"nll": nll.item(), "recon_mse": ((x_hat - target) ** 2).mean().item()}

    def _step(self, x: Tensor, gap: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """One autoregressive step: (B, D) value read with its (B,) gap -> next value."""
        out, h = self.rnn(self._inputs(x[:, None], gap[:, None]), h)
        return self.readout(out[:, 0]), h

    @torch.no_grad()
    def predict(self, batch: SpiralBatch) -> Prediction:
        recon, h = self._teacher_forced(batch)
        recon = torch.cat([batch.x_obs[:, :1], recon[:, 1:]], 1)  # x_0: the observation read
        x, t = batch.x_obs[:, -1], batch.t_obs[:, -1]  # (B, D), (B,)
        if self.cfg.rollout == "grid":
            future = []
            for tf in batch.t_future:
                x, h = self._step(x, tf - t, h)
                t = tf.expand_as(t)
                future.append(x)
            return Prediction(recon, torch.stack(future, 1))  # (B, n, D), (B, F, D)
        # mean_gap: points at t + j * gap_scale, j = 0..J (j = 0: the last observation)
        u = (batch.t_future[None] - t[:, None]) / self.gap_scale  # (B, F) in steps
        n_steps = max(1, math.ceil(float(u.max())))
        path, gap = [x], torch.full_like(t, self.gap_scale)
        for _ in range(n_steps):
            x, h = self._step(x, gap, h)
            path.append(x)
        path = torch.stack(path, 1)  # (B, J + 1, D)
        lo = u.floor().clamp(0, n_steps - 1).long()  # (B, F)
        w = (u - lo).clamp(0, 1)[..., None]  # (B, F, 1)
        pick = lambda i: path.gather(1, i[..., None].expand(-1, -1, path.shape[-1]))  # noqa: E731
        return Prediction(recon, pick(lo) * (1 - w) + pick(lo + 1) * w)  # (B, F, D)
