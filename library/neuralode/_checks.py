"""Input checks of ``odeint``/``odeint_adjoint``: each error names the argument and the fix.

Everything here runs once per call (for the captured-tensor walk, once per backward
pass), never per step, except the check of what ``func`` returns: :func:`is_like` on
every evaluation, and the full :func:`check_output` only when that fails.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

_HALF = "solve in float32 (y0.float()) and cast the result back"


def real_number(name: str, value: Any) -> float:
    """``value`` as a float: Python and numpy reals are accepted, anything else raises."""
    # numpy registers its scalars as numbers.Real (np.bool_ is not); bool is an int
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = "; use .item() to pass a 0-d tensor's value" if isinstance(value, Tensor) else ""
        raise TypeError(f"{name} must be a real number (int, float or numpy scalar), "
                        f"got {type(value).__name__} {value!r}{hint}")
    return float(value)


def tolerances(rtol: Any, atol: Any, prefix: str = "") -> tuple[float, float]:
    """Validated (rtol, atol) as floats."""
    out = []
    for name, tol in ((prefix + "rtol", rtol), (prefix + "atol", atol)):
        x = real_number(name, tol)
        if not (math.isfinite(x) and x > 0):
            raise ValueError(f"{name} must be a positive finite number, got {tol!r}")
        out.append(x)
    if out[0] > 1:
        raise ValueError(f"{prefix}rtol={out[0]} is above 1 (100% relative error); "
                         "use a value in (0, 1]")
    return out[0], out[1]


def check_inputs(y0: Tensor, t: Tensor) -> list[float]:
    """Validate the state and the output times; return the times as Python floats."""
    if not isinstance(y0, Tensor) or not y0.is_floating_point():
        raise TypeError(f"y0 must be a floating-point tensor, got {type(y0).__name__}"
                        + (f" of dtype {y0.dtype}" if isinstance(y0, Tensor) else ""))
    if not isinstance(t, Tensor) or t.dim() != 1 or t.numel() < 2:
        raise ValueError("t must be a 1-D tensor of at least 2 output times, got "
                         f"{tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__}")
    if t.is_complex():
        raise TypeError(f"t must be a real tensor, got dtype {t.dtype}")
    ts = t.detach().tolist()
    bad = [i for i, x in enumerate(ts) if not math.isfinite(x)]
    if bad:
        raise ValueError(f"t must be finite, got t[{bad[0]}]={ts[bad[0]]} ({len(bad)} of "
                         f"{len(ts)} times non-finite); remove nan/inf output times")
    diffs = [b - a for a, b in zip(ts[:-1], ts[1:], strict=True)]
    if not (all(d > 0 for d in diffs) or all(d < 0 for d in diffs)):
        raise ValueError(f"t must be strictly increasing or strictly decreasing, got {ts}")
    return ts


def check_precision(dtype: torch.dtype, rtol: float, atol: float, prefix: str = "") -> None:
    """Adaptive steps cannot meet a tolerance below the state dtype's resolution.

    The unit roundoff u = finfo.eps / 2 bounds the relative error of one rounding. In
    16-bit floats (u = 4.9e-4 float16, 3.9e-3 bfloat16) an rtol below u, such as the
    default 1e-7, makes the rounding noise of the error estimate reject steps until
    the step size underflows (float16) or the update rounds away and the state
    freezes at a wrong value (bfloat16); so rtol < u raises there. float32 and
    float64 keep any rtol (the default 1e-7 included): a tighter rtol costs steps
    but the state still moves, and the answer is accurate to the dtype. An atol
    below the smallest normal number underflows the error scale atol + rtol * |y|
    to 0 where y is 0, in any dtype.
    """
    info = torch.finfo(dtype)
    u = info.eps / 2
    problems = []
    if info.bits < 32 and rtol < u:
        problems.append(f"{prefix}rtol={rtol:g} is below the unit roundoff of the state's "
                        f"dtype {dtype} (finfo.eps/2 = {u:.3g}), so no step can meet it; "
                        f"use {prefix}rtol >= {u:.3g}")
    if atol < info.tiny:
        problems.append(f"{prefix}atol={atol:g} is below the smallest normal {dtype} number "
                        f"({info.tiny:.3g}), so the error scale underflows to 0; use "
                        f"{prefix}atol >= {info.tiny:.3g}")
    if problems:
        raise ValueError("; ".join(problems) + f". Or {_HALF}.")


def check_output(out: Any, shape: torch.Size, dtype: torch.dtype, device: torch.device,
                 where: str = "") -> None:
    """What ``func(t, y)`` returns must be a tensor like the state, on every evaluation:
    the solvers combine it with the state, which would silently broadcast a wrong shape
    or cast a wrong dtype into the solution. ``where`` says which evaluation it was."""
    call = f"func(t, y){where}"
    fix = "; return a tensor shaped like y, e.g. -y or y.new_zeros(y.shape)"
    if not isinstance(out, Tensor):
        raise TypeError(f"{call} must return a Tensor, got {type(out).__name__}{fix}"
                        + (" (for several states, pack them into one tensor with torch.cat)"
                           if isinstance(out, (tuple, list)) else ""))
    if out.shape != shape:
        raise ValueError(f"{call} returned shape {tuple(out.shape)}, "
                         f"expected the state's shape {tuple(shape)}{fix}")
    if out.dtype != dtype:
        raise TypeError(f"{call} returned dtype {out.dtype}, but the state y0 is {dtype}; "
                        f"return the state's dtype (e.g. .to(y.dtype)) or cast y0")
    if out.device != device:
        raise ValueError(f"{call} returned a tensor on {out.device}, but the state y0 is "
                         f"on {device}; move func's parameters/tensors to {device}")


def is_like(out: Any, shape: torch.Size, dtype: torch.dtype, device: torch.device) -> bool:
    """The per-evaluation fast path of :func:`check_output`: True when ``out`` is a
    tensor of the state's shape, dtype and device (a few hundred ns per call)."""
    return (isinstance(out, Tensor) and out.shape == shape and out.dtype == dtype
            and out.device == device)


def evaluation(n: int, t: Any) -> str:
    """' (evaluation n, at t=...)' for an error message; ``t`` a float or 0-d tensor."""
    t = t.detach() if isinstance(t, Tensor) else t
    return f" (evaluation {n} of the solve, at t={float(t):.6g})"


def unique_params(adjoint_params: Iterable[Tensor] | None, func: Any) -> tuple[Tensor, ...]:
    """The tensors to differentiate, once each (by identity: a repeat would be summed
    twice), keeping only those that require grad."""
    if adjoint_params is None:
        adjoint_params = func.parameters() if isinstance(func, torch.nn.Module) else ()
    elif isinstance(adjoint_params, Tensor):
        raise TypeError("adjoint_params must be a tuple of tensors, got a single Tensor "
                        "(iterating it would give its rows); pass (tensor,)")
    out: dict[int, Tensor] = {}
    for i, p in enumerate(adjoint_params):
        if not isinstance(p, Tensor):
            raise TypeError(f"adjoint_params[{i}] must be a Tensor, got {type(p).__name__}")
        if p.requires_grad:
            out.setdefault(id(p), p)
    return tuple(out.values())


def _storage(x: Tensor) -> int | None:
    return x.untyped_storage().data_ptr() if x.layout == torch.strided else None


def check_captured(out: Tensor, state: Tensor, params: tuple[Tensor, ...]) -> None:
    """Raise if ``out`` = func(t, state) depends on a tensor that requires grad other
    than through ``state`` or ``params``: the adjoint computes vector-Jacobian products
    w.r.t. those only, so that tensor's gradient would be silently lost.

    Walks the autograd graph of ``out`` once: a leaf param stops the walk at its
    AccumulateGrad node, a non-leaf param at its (grad_fn, output_nr) edge, so the
    gradient of a non-leaf param still flows into its own graph. A leaf that func
    makes from a state not requiring grad (``y.detach().requires_grad_()``, e.g. for a
    divergence) shares the state's storage and is func's own business; from a state
    that requires grad (the adjoint's z) it cuts f's graph w.r.t. z, and raises.
    """
    if not out.requires_grad:
        return
    leaves = {id(p) for p in params if p.grad_fn is None} | {id(state)}
    own = _storage(state)
    # values hold the nodes, so their ids stay unique during the walk
    edges = {(id(p.grad_fn), p.output_nr): p.grad_fn for p in params if p.grad_fn is not None}
    lost: dict[int, Tensor] = {}

    def reached(leaf: Tensor) -> None:
        if id(leaf) in leaves:
            return
        if own is not None and _storage(leaf) == own:  # made from the state inside func
            if state.requires_grad:
                raise ValueError("odeint_adjoint: func(t, y) detaches y (it differentiates "
                                 "a new leaf made from y's storage), so the adjoint would "
                                 "lose df/dy; inside func, use y.requires_grad_() (a no-op "
                                 "when y already requires grad) instead of y.detach()")
            return
        lost[id(leaf)] = leaf

    if out.grad_fn is None:  # func returned a leaf itself
        reached(out)
    elif (id(out.grad_fn), out.output_nr) not in edges:
        seen, stack = {id(out.grad_fn): out.grad_fn}, [out.grad_fn]
        while stack:
            for node, nr in stack.pop().next_functions:
                if node is None or (id(node), nr) in edges or id(node) in seen:
                    continue
                seen[id(node)] = node
                leaf = getattr(node, "variable", None)  # AccumulateGrad: a leaf
                if leaf is not None:
                    reached(leaf)
                else:
                    stack.append(node)
    if lost:
        found = ", ".join(f"shape {tuple(x.shape)} ({x.dtype})" for x in lost.values())
        raise ValueError(
            f"odeint_adjoint: func(t, y) uses {len(lost)} tensor(s) that require grad but "
            f"are not in adjoint_params: {found}. Their gradients would be silently lost. "
            "Pass them in adjoint_params=(...) (in an nn.Module, register them as "
            "nn.Parameter), or .detach() them if they need no gradient.")
