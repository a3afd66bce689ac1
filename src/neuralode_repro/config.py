"""Strict, typed configuration: each ``params.yaml`` section loads into a frozen
dataclass. Unknown keys, wrong types and out-of-range values raise one
:class:`ConfigError` naming the key, the value and what is allowed, before any
stage writes output. params.yaml is read as DVC reads it (ruamel.yaml, YAML 1.2).

Range limits live next to the field (:func:`num`), on a list field for every item;
every float must be finite unless its field says otherwise. Mapping keys (model,
system, target names) become file and DVC stage names, so they are plain names.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.composer import Composer
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

T = TypeVar("T")
# Seeds feed numpy's legacy global RNG (< 2**32) after small offsets per restart/system.
SEED_MAX = 2**31 - 1
NAME = re.compile(r"^[A-Za-z0-9_]+$")
# Every top-level section of params.yaml (a stage reads its own; a typo is an error).
SECTIONS = ("common", "generate_data", "train_toy", "download_mnist", "train_mnist",
            "mnist_memory", "nfe_study", "train_latent", "train_cnf", "evaluate_cnf",
            "figures", "report")


class ConfigError(ValueError):
    """A bad value in params.yaml (or an override of it)."""


def check_seeds(seeds: tuple[int, ...]) -> None:
    """A ``seeds`` list that DVC's ``matrix`` expands: non-empty and distinct."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: expected a non-empty list of distinct integers >= 0, "
                         f"got {list(seeds)}")


def check_seed_in(seed: int, seeds: tuple[int, ...], section: str) -> None:
    """A stage's ``--seed`` must be one of ``<section>.seeds``, the matrix DVC runs."""
    if seed not in seeds:
        raise ConfigError(f"--seed {seed} is not in {section}.seeds {list(seeds)}; "
                          "pick one of them or add it there")


def num(default: Any = dataclasses.MISSING, *, gt: float | None = None,
        ge: float | None = None, lt: float | None = None, le: float | None = None,
        finite: bool = True) -> Any:
    """A dataclass field with numeric bounds checked by :func:`parse` (on each item of
    a list); ``finite=False`` lets a float field take inf/nan (document what it means)."""
    bounds = {k: v for k, v in (("gt", gt), ("ge", ge), ("lt", lt), ("le", le)) if v is not None}
    return dataclasses.field(default=default, metadata={"bounds": bounds, "finite": finite})


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


def _coerce(value: Any, tp: Any, where: str, finite: bool = True) -> Any:
    origin = get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        errors = []
        for option in get_args(tp):
            try:
                return _coerce(value, option, where, finite)
            except ConfigError as err:
                errors.append(err)
        # a specific complaint (a non-finite number) beats "expected X or null"
        raise next((e for e in errors if "finite" in str(e)), _fail(where, value, tp))
    if origin is Literal:
        if value in get_args(tp) and type(value) is type(get_args(tp)[0]):
            return value
        raise _fail(where, value, tp)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _fail(where, value, tp)
        args = get_args(tp)
        if args[-1] is Ellipsis:  # tuple[int, ...]: any length
            args = args[:1] * len(value)
        elif len(args) != len(value):
            raise ConfigError(f"{where}: expected a list of {len(args)} items, got {value!r}")
        return tuple(_coerce(v, a, f"{where}[{i}]", finite)
                     for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        if not isinstance(value, Mapping) or not value:
            raise ConfigError(f"{where}: expected a non-empty mapping, got {value!r}")
        for k in value:
            if not isinstance(k, str) or not NAME.match(k):
                raise ConfigError(f"{where}: name {k!r} may use only letters, digits and _ "
                                  "(names become file and DVC stage names); rename it")
        return {k: _coerce(v, get_args(tp)[1], f"{where}.{k}", finite)
                for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return parse(tp, value, where)
    if tp is type(None) and value is None:
        return None
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        if finite and not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}; "
                              "use a finite value")
        return float(value)
    if tp in (int, str, bool) and type(value) is tp:
        return value
    raise _fail(where, value, tp)


def _check_bounds(key: str, value: Any, bounds: Mapping[str, float]) -> None:
    items = enumerate(value) if isinstance(value, tuple) else [(None, value)]
    for i, item in items:
        for op, bound in bounds.items():
            symbol, ok = _OPS[op]
            if item is not None and not ok(item, bound):
                where = key if i is None else f"{key}[{i}]"
                raise ConfigError(f"{where}: must be {symbol} {bound}, got {item!r}")


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
            if field.default is dataclasses.MISSING is field.default_factory:
                raise ConfigError(f"{key}: missing required key ({_describe(hints[name])})")
            continue
        value = _coerce(data[name], hints[name], key, field.metadata.get("finite", True))
        _check_bounds(key, value, field.metadata.get("bounds", {}))
        values[name] = value
    obj = cls(**values)
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from None
    return obj


class _Composer(Composer):
    """ruamel.yaml's (DVC's parser) refuses a key given twice only in a mapping without a
    merge key ``<<``; this one refuses it in every mapping, naming both lines."""

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            line, name = key.start_mark.line + 1, (str(key.tag), str(key.value))
            merge = key.tag == "tag:yaml.org,2002:merge"
            if merge and name in seen:
                raise ConfigError(f"merge key '<<' given twice, at lines {seen[name]} and "
                                  f"{line}; merge several mappings with `<<: [*a, *b]`")
            if merge:
                sources = value.value if isinstance(value, SequenceNode) else [value]
                for bad in (s for s in sources if not isinstance(s, MappingNode)):
                    raise ConfigError(f"merge key '<<' at line {line}: expected a mapping or "
                                      f"a list of mappings (e.g. *defaults), got a {bad.id}")
            elif isinstance(key, ScalarNode) and name in seen:
                raise ConfigError(f"duplicate key {key.value!r} at line {line} (first at line "
                                  f"{seen[name]}); keep one of them")
            seen[name] = line
        return node


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file strictly; every failure is a ConfigError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; run from the repository root or pass "
                          "--params <file>") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a params file; pass --params "
                          "<file.yaml>") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason}); save "
                          "it as UTF-8") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror or err})") from None
    yaml = YAML(typ="safe")
    yaml.Composer = _Composer
    try:
        return yaml.load(text)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read params.yaml: a mapping of known sections; anything else is a ConfigError."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in SECTIONS)
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(map(repr, unknown))}; "
                          f"allowed: {', '.join(SECTIONS)}")
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


@dataclasses.dataclass(frozen=True)
class CommonConfig:
    """``common``: settings every stage reads."""

    profile: str = "default"
    seed: int = num(0, ge=0, le=SEED_MAX)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = num(None, ge=1)  # torch threads; null: one per core
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
        from neuralode.solvers import is_adaptive, solver_names

        from .vode import register

        register()  # the pipeline's own solver, vode_adams
        if self.method not in solver_names():
            raise ValueError(f"method: unknown solver {self.method!r}; valid: "
                             f"{', '.join(solver_names())}")
        if self.method == "vode_adams" and not self.adjoint:
            raise ValueError("method 'vode_adams' (scipy's VODE) cannot backpropagate through "
                             "its steps, got adjoint: false; set adjoint: true or pick a "
                             "neuralode method (adams is the same family)")
        if self.step_size is not None and is_adaptive(self.method):
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
