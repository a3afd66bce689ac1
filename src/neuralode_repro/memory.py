"""Peak memory of one training step (forward + backward), for the paper's claim that
the adjoint method trains with O(1) memory in the number of solver steps (sec. 2 and
Table 1's "Memory" column: ODE-Net O(1) vs RK-Net O(L~)).

What is measured: the peak of tensor memory allocated during the step, above what was
allocated just before it (parameters, inputs and anything alive stay out), in MB
(2**20 bytes). Gradients are reset to None first, so each step pays for them alike.

- CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus
  ``memory_allocated`` before the step: exact, from the caching allocator's counters.
- CPU: PyTorch keeps no peak counter for CPU tensors, so the step runs under
  ``torch.profiler`` with ``profile_memory=True``, which records one event per tensor
  allocation (+bytes) and free (-bytes). Ordered by time, their running sum is the
  memory allocated since the step started; its maximum is the peak. This counts exactly
  the bytes PyTorch's CPU allocator hands out and takes back, at every allocation, so
  it sees short-lived temporaries and the adjoint's backward solve. Process RSS was
  rejected (it includes the Python heap, allocator caching and fragmentation, and is
  noisy at the megabyte scale of a small batch), and saved-tensor hooks were rejected
  (they see the tensors kept for backward, but not the temporaries nor the
  adjoint's own backward solve). The profiler slows the step a few-fold; use the
  CPU number for comparisons between models, not timings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import torch
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile

LossFn = Callable[[nn.Module, Any], tuple[Tensor, dict[str, float]]]
K = TypeVar("K")
MB = 2**20
# libkineto, which records the events, logs to stderr on every profile: "ERROR: ...
# gpuGetDeviceCount failed" on a machine without a GPU, and USDT/STAGE lines. None of
# it is about our measurement; level 6 is above its highest. Read when it first starts.
os.environ.setdefault("KINETO_LOG_LEVEL", "6")


def _run_step(model: nn.Module, batch: Any, loss_fn: LossFn) -> None:
    loss, _ = loss_fn(model, batch)
    loss.backward()


def _cuda_peak(model: nn.Module, batch: Any, loss_fn: LossFn, device: torch.device) -> int:
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    _run_step(model, batch, loss_fn)
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def _cpu_peak(model: nn.Module, batch: Any, loss_fn: LossFn) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _run_step(model, batch, loss_fn)
    cpu = torch._C._autograd.DeviceType.CPU
    events = [e for e in prof.profiler.kineto_results.events()
              if e.name() == "[memory]" and e.device_type() == cpu]
    events.sort(key=lambda e: e.start_ns())
    peak = current = 0
    for event in events:
        current += event.nbytes()  # + on allocation, - on free
        peak = max(peak, current)
    return peak


def peak_step_memory_mb(model: nn.Module, batch: Any, loss_fn: LossFn) -> float:
    """Peak memory in MB of ``loss_fn(model, batch)`` then ``loss.backward()`` on the
    model's device (method in the module docstring). Leaves the step's gradients in
    the parameters; the model's train/eval mode is used as is."""
    device = next(model.parameters()).device
    model.zero_grad(set_to_none=True)
    if device.type == "cuda":
        peak = _cuda_peak(model, batch, loss_fn, device)
    elif device.type == "cpu":
        peak = _cpu_peak(model, batch, loss_fn)
    else:
        raise ValueError(f"peak memory: unsupported device {device}; use cpu or cuda")
    return peak / MB


def memory_sweep(make_model: Callable[[K], nn.Module], values: Iterable[K], batch: Any,
                 loss_fn: LossFn) -> dict[K, float]:
    """``{value: peak MB}`` of one training step of ``make_model(value)`` for each
    value, e.g. the number of fixed solver steps (paper sec. 2: flat for the adjoint,
    growing for direct backprop). Each model is dropped before the next is built."""
    out: dict[K, float] = {}
    for value in values:
        model = make_model(value)
        out[value] = peak_step_memory_mb(model, batch, loss_fn)
        del model
    return out
