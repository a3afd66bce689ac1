"""Strict, typed configuration: each ``params.yaml`` section loads into a frozen
dataclass. Unknown keys, wrong types and out-of-range values raise one
:class:`ConfigError` naming the key, the value and what is allowed, before any
stage writes output.

Range limits live next to the field: ``num(0.01, gt=0)`` is a number > 0.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A bad value in params.yaml (or an override of it)."""


def num(default: Any = dataclasses.MISSING, *, gt: float | None = None,
        ge: float | None = None, lt: float | None = None, le: float | None = None) -> Any:
    """A dataclass field with numeric bounds checked by :func:`parse`."""
    bounds = {k: v for k, v in (("gt", gt), ("ge", ge), ("lt", lt), ("le", le)) if v is not None}
    return dataclasses.field(default=default, metadata={"bounds": bounds})


_OPS = {"gt": (">", lambda x, b: x > b), "ge": (">=", lambda x, b: x >= b),
        "lt": ("<", lambda x, b: x < b), "le": ("<=", lambda x, b: x <= b)}


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in get_args(tp))
    if origin is tuple:
        return f"a list of {_describe(get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping of {_describe(get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {', '.join(f.name for f in dataclasses.fields(tp))}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))


def _fail(where: str, value: Any, tp: Any) -> ConfigError:
    return ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        for option in get_args(tp):
            try:
                return _coerce(value, option, where)
            except ConfigError:
                pass
        raise _fail(where, value, tp)
    if origin is Literal:
        if value in get_args(tp) and type(value) is type(get_args(tp)[0]):
            return value
        raise _fail(where, value, tp)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _fail(where, value, tp)
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected a list of {len(args)} items, got {value!r}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (a, v) in pairs)
    if origin is dict:
        if not isinstance(value, Mapping) or not value:
            raise ConfigError(f"{where}: expected a non-empty mapping, got {value!r}")
        return {k: _coerce(v, get_args(tp)[1], f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return parse(tp, value, where)
    if tp is type(None):
        if value is None:
            return None
        raise _fail(where, value, tp)
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-3" (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if tp in (int, str, bool) and type(value) is tp:
        return value
    raise _fail(where, value, tp)


def parse(cls: type[T], data: Any, where: str = "params") -> T:
    """Build the frozen dataclass ``cls`` from a mapping, strictly."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected {_describe(cls)}, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"allowed keys: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        key = f"{where}.{name}"
        if name not in data:
            if field.default is dataclasses.MISSING and \
                    field.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{key}: missing required key ({_describe(hints[name])})")
            continue
        value = _coerce(data[name], hints[name], key)
        for op, bound in field.metadata.get("bounds", {}).items():
            symbol, ok = _OPS[op]
            if value is not None and not ok(value, bound):
                raise ConfigError(f"{key}: must be {symbol} {bound}, got {value!r}")
        values[name] = value
    obj = cls(**values)
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from None
    return obj


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read params.yaml; a missing or malformed file is a ConfigError."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; run from the repository root") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def load_section(cls: type[T], section: str, path: str | Path = "params.yaml",
                 params: dict[str, Any] | None = None) -> T:
    """Load ``section`` (dotted, e.g. ``train_toy.linear``) of params.yaml into ``cls``."""
    data: Any = load_params(path) if params is None else params
    for i, part in enumerate(parts := section.split(".")):
        if not isinstance(data, Mapping) or part not in data:
            have = ", ".join(map(str, data)) if isinstance(data, Mapping) else "nothing"
            raise ConfigError(f"{Path(path).name}: missing section "
                              f"{'.'.join(parts[:i + 1])!r} (found: {have})")
        data = data[part]
    return parse(cls, data, f"{Path(path).name}:{section}")


# --- sections shared by several stages -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CommonConfig:
    """``common``: settings every stage reads."""

    profile: str = "default"
    seed: int = num(0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    mlflow_experiment: str = "neural-ode-reproduction"


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """How a model integrates its ODE; maps onto ``odeint``/``odeint_adjoint``."""

    method: str = "dopri5"
    rtol: float = num(1e-3, gt=0, le=1)
    atol: float = num(1e-3, gt=0)
    adjoint: bool = True
    step_size: float | None = num(None, gt=0)
    seminorm: bool = False
    max_num_steps: int = num(10_000, gt=0)

    def validate(self) -> None:
        from .solvers import SOLVERS, TABLEAUX

        if self.method not in SOLVERS:
            raise ValueError(f"method: unknown solver {self.method!r}; valid: {', '.join(SOLVERS)}")
        if self.step_size is not None and TABLEAUX[self.method].adaptive:
            raise ValueError(f"step_size applies to fixed-grid methods, not {self.method!r}; "
                             "remove it or pick euler, midpoint or rk4")

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``odeint``/``odeint_adjoint``."""
        opts: dict[str, Any] = {"max_num_steps": self.max_num_steps}
        if self.step_size is not None:
            opts["step_size"] = self.step_size
        kw: dict[str, Any] = {"method": self.method, "rtol": self.rtol, "atol": self.atol,
                              "options": opts}
        if self.adjoint:
            kw["seminorm"] = self.seminorm
        return kw
