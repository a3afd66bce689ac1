"""MNIST classifiers of paper sec. 3 / Table 1: ODE-Net, RK-Net, ResNet and MLP.

All convolutional models share one layout (the authors' reference ``odenet_mnist.py``):

    downsampling (1 x 28 x 28 -> C x 6 x 6)  ->  features  ->  head (-> 10 logits)

- downsampling ``res``: Conv(1 -> C, 3x3, no padding) then two stride-2 pre-activation
  residual blocks with 1x1 conv shortcuts (28 -> 26 -> 13 -> 7 pixels);
  ``conv``: Conv(1 -> C, 3x3), norm, ReLU, Conv(4x4, stride 2), norm, ReLU,
  Conv(4x4, stride 2) (28 -> 26 -> 13 -> 6).
- features: ``odenet`` integrates one ODE dz/dt = f(z, t, theta) on [0, t1] and
  trains it with the adjoint method (sec. 2, O(1) memory in depth); ``rknet`` is the
  same network backpropagated directly through the solver's operations; ``resnet``
  stacks ``n_res_blocks`` pre-activation residual blocks (C -> C).
- head: norm, ReLU, global average pool, Linear(C -> 10).

``mlp`` is the paper's 1-hidden-layer baseline, 784 -> 300 -> 10 (LeCun et al. 1998).

The tutorial notebook's variant (Euler with step 0.05, BatchNorm, ``conv``
downsampling) is ``norm: batch, downsampling: conv, solver: {method: euler,
step_size: 0.05}``; its dynamics order the layers conv -> ReLU -> norm and its head
has no ReLU, which this module does not copy (the reference's order is kept).

A model never owns a training loop: :func:`loss_fn` feeds the shared loop of
:mod:`neuralode_repro.training` and :func:`evaluate` gives the test error of Table 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import SolverConfig, num
from ..solving import solve

Kind = Literal["odenet", "rknet", "resnet", "mlp"]


@dataclasses.dataclass(frozen=True)
class MnistModelConfig:
    """One Table 1 model. ``kind`` decides how the ODE block is differentiated:
    ``odenet`` always uses the adjoint and ``rknet`` always backpropagates through the
    solver, whatever ``solver.adjoint`` says; ``solver`` is unused by resnet and mlp."""

    kind: Kind = "odenet"
    downsampling: Literal["res", "conv"] = "res"
    width: int = num(64, gt=0)
    norm: Literal["group", "batch"] = "group"
    n_res_blocks: int = num(6, gt=0)
    mlp_hidden: int = num(300, gt=0)
    t1: float = num(1.0, gt=0)
    solver: SolverConfig = dataclasses.field(default_factory=SolverConfig)

    def effective_solver(self) -> SolverConfig:
        """``solver`` with ``adjoint`` set by ``kind`` (the config actually used)."""
        return dataclasses.replace(self.solver, adjoint=self.kind == "odenet")


def make_norm(kind: str, channels: int) -> nn.Module:
    """GroupNorm(min(32, C)) as in the reference, or BatchNorm2d (tutorial notebook)."""
    if kind == "group":
        return nn.GroupNorm(min(32, channels), channels)
    return nn.BatchNorm2d(channels)


class ResBlock(nn.Module):
    """Pre-activation residual block (He et al. 2016): x + conv(relu(norm(conv(relu(norm x))))).

    With ``stride`` 2 a 1x1 convolution of the pre-activated input is the shortcut.
    """

    def __init__(self, channels: int, norm: str, stride: int = 1):
        super().__init__()
        self.norm1 = make_norm(norm, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, stride, padding=1, bias=False)
        self.norm2 = make_norm(norm, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, padding=1, bias=False)
        self.shortcut = (nn.Conv2d(channels, channels, 1, stride, bias=False)
                         if stride != 1 else None)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.norm1(x))  # (B, C, H, W)
        shortcut = x if self.shortcut is None else self.shortcut(out)  # (B, C, H/s, W/s)
        out = self.conv2(F.relu(self.norm2(self.conv1(out))))
        return out + shortcut


class ConcatConv2d(nn.Module):
    """3x3 convolution of [t, x]: the time is a constant extra input channel, so the
    dynamics f(z, t, theta) may depend on t (paper sec. 3)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in + 1, c_out, 3, 1, padding=1)

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        tt = torch.ones_like(x[:, :1]) * t  # (B, 1, H, W)
        return self.conv(torch.cat([tt, x], 1))  # (B, C_out, H, W)


class ODEFunc(nn.Module):
    """f(z, t) = norm(conv_t(relu(norm(conv_t(relu(norm(z))))))): the residual branch
    of a pre-activation block, made continuous in depth (paper eq. 1 -> eq. 2)."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.norm1 = make_norm(norm, channels)
        self.conv1 = ConcatConv2d(channels, channels)
        self.norm2 = make_norm(norm, channels)
        self.conv2 = ConcatConv2d(channels, channels)
        self.norm3 = make_norm(norm, channels)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        out = self.conv1(t, F.relu(self.norm1(z)))  # (B, C, H, W)
        out = self.conv2(t, F.relu(self.norm2(out)))
        return self.norm3(out)


class ODEBlock(nn.Module):
    """z(t1) = z(0) + int_0^t1 f(z, t) dt, solved by ``odeint_adjoint`` (ODE-Net) or
    by ``odeint`` with backprop through the solver (RK-Net), per ``solver.adjoint``."""

    def __init__(self, func: nn.Module, solver: SolverConfig, t1: float = 1.0):
        super().__init__()
        self.func = func
        self.solver = solver
        self.t1 = t1

    def forward(self, z0: Tensor) -> Tensor:
        t = torch.tensor([0.0, self.t1], dtype=z0.dtype, device=z0.device)
        return solve(self.func, z0, t, self.solver)[-1]  # (B, C, H, W)

    def extra_repr(self) -> str:
        s = self.solver
        mode = "adjoint" if s.adjoint else "direct backprop"
        return f"t=[0, {self.t1}], method={s.method}, rtol={s.rtol}, atol={s.atol}, {mode}"


class MnistNet(nn.Module):
    """downsample -> features -> head; ``kind`` tells which Table 1 row it is."""

    def __init__(self, kind: Kind, downsample: nn.Module, features: nn.Module,
                 head: nn.Module):
        super().__init__()
        self.kind = kind
        self.downsample, self.features, self.head = downsample, features, head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(self.downsample(x)))  # (B, 1, 28, 28) -> (B, 10)


def _downsampling(cfg: MnistModelConfig) -> nn.Sequential:
    c = cfg.width
    if cfg.downsampling == "res":
        return nn.Sequential(nn.Conv2d(1, c, 3, 1),  # (B, C, 26, 26)
                             ResBlock(c, cfg.norm, stride=2),  # (B, C, 13, 13)
                             ResBlock(c, cfg.norm, stride=2))  # (B, C, 7, 7)
    return nn.Sequential(nn.Conv2d(1, c, 3, 1), make_norm(cfg.norm, c), nn.ReLU(),
                         nn.Conv2d(c, c, 4, 2, 1), make_norm(cfg.norm, c), nn.ReLU(),
                         nn.Conv2d(c, c, 4, 2, 1))  # (B, C, 6, 6)


def build_model(cfg: MnistModelConfig) -> nn.Module:
    """The Table 1 model described by ``cfg`` (freshly initialised; seed torch first)."""
    if cfg.kind == "mlp":
        return MnistNet("mlp", nn.Flatten(), nn.Sequential(nn.Linear(784, cfg.mlp_hidden),
                                                           nn.ReLU()),
                        nn.Linear(cfg.mlp_hidden, 10))
    c = cfg.width
    if cfg.kind == "resnet":
        features: nn.Module = nn.Sequential(*(ResBlock(c, cfg.norm)
                                              for _ in range(cfg.n_res_blocks)))
    else:
        features = ODEBlock(ODEFunc(c, cfg.norm), cfg.effective_solver(), cfg.t1)
    head = nn.Sequential(make_norm(cfg.norm, c), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(c, 10))  # (B, C, h, w) -> (B, 10)
    return MnistNet(cfg.kind, _downsampling(cfg), features, head)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars (Table 1's "# Params")."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def loss_fn(model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, float]]:
    """Cross-entropy of a batch ``(images (B, 1, 28, 28), labels (B,))``, moved to the
    model's device; logs the batch accuracy."""
    x, y = batch
    device = _device(model)
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    logits = model(x)  # (B, 10)
    loss = F.cross_entropy(logits, y)
    accuracy = (logits.argmax(1) == y).float().mean()
    return loss, {"accuracy": float(accuracy)}


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable[Any]) -> float:
    """Test error in percent (Table 1's metric) over every batch of ``loader``, in
    eval mode (BatchNorm uses running statistics); the model's mode is restored."""
    was_training = model.training
    model.eval()
    device = _device(model)
    wrong = total = 0
    try:
        for x, y in loader:
            pred = model(x.to(device)).argmax(1).cpu()  # (B,)
            wrong += int((pred != y).sum())
            total += y.numel()
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("evaluate: the loader yielded no samples; check the test subset size")
    return 100.0 * wrong / total
