"""One name for each trained run: its DVC stage names, file stem, every path and the
identity its model file records, built in one place from the values of its matrix item.

A run is one item of a ``matrix`` stage of ``dvc.yaml`` (``train_mnist@odenet-0``): its
values in the matrix's key order (``model``, ``seed``) make DVC's key ``odenet-0``, and
its family's stem format makes the file names (``odenet-s0``). The stage scripts take
the values on their command line and name their stage, MLflow run and the identity they
check from here; experiments name their progress bars and model-file identity by it;
figures and the report list the runs that params name with :func:`grid` and read each
run's files from here, never parsing a path. dvc.yaml still spells each path (DVC needs
them in outs and deps, and the stage gets them on its cmd); ``tests/test_runs.py``
checks, for every run of params.yaml, that DVC resolves exactly these paths there.
Standard library only: the report and summaries import it without torch.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class RunIdentity:
    """One training run, as a stage's command line names it.

    ``keys`` (plain values, in the order an error lists them): ``experiment`` (toy,
    mnist, latent, cnf), ``model`` (the variant: the params key the stage's ``--model``
    names; the CNF's kind), what else tells the matrix's runs apart (``n_obs``; the
    CNF's ``task`` and ``target`` or ``width``), ``seed``, and ``data``: the data file or
    folder the run trained on, as the command line gave it (see :meth:`Run.identity`).
    ``stage``: the DVC stage that trains the run, the fix an error names.
    """

    stage: str
    keys: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Family:
    """The runs of one pair of matrix stages (``train_<name>``, ``evaluate_<name>``)."""

    name: str                     # stage suffix: train_<name>@..., evaluate_<name>@...
    folder: str                   # under data/models/, metrics/ (and data/eval/)
    axes: tuple[str, ...]         # the matrix keys, in dvc.yaml's order
    stem: str                     # file stem, formatted with the axes' values
    experiment: str               # the identity's experiment
    model_axis: str               # the axis the identity calls ``model``
    snapshots: str | None = None  # the snapshot file's suffix, where the run has one
    outputs: tuple[str, ...] = ()  # the evaluation's extra files: budget, curve, predictions
    task: str | None = None       # the CNF's task, recorded in the identity


FAMILIES = {f.name: f for f in (
    Family("toy", "toy", ("name", "seed"), "{name}-s{seed}", "toy", "name", ".npz",
           ("budget", "predictions")),
    Family("mnist", "mnist", ("model", "seed"), "{model}-s{seed}", "mnist", "model", ".pt",
           ("curve",)),
    Family("latent", "latent", ("model", "n_obs", "seed"), "{model}_n{n_obs}-s{seed}",
           "latent", "model", ".pt", ("budget",)),
    Family("cnf_ml", "cnf/ml", ("target", "model", "seed"), "{target}_{model}-s{seed}",
           "cnf", "model", ".pt", ("budget",), task="ml"),
    Family("cnf_capacity", "cnf/capacity", ("model", "width", "seed"),
           "{model}_{width}-s{seed}", "cnf", "model", task="capacity"),
)}


# kind -> (default top folder, suffix after the stem)
FILES = {"weights": ("data/models", ".pt"), "snapshots": ("data/models", "_snapshots{ext}"),
         "log": ("metrics", "_log.csv"), "summary": ("metrics", "_train.json"),
         "metrics": ("metrics", ".json"), "budget": ("metrics", "_budget.csv"),
         "curve": ("metrics", "_curve.csv"), "predictions": ("data/eval", ".npz")}
TRAIN_FILES = ("weights", "snapshots", "log", "summary")


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a :class:`Family`; ``values`` in the family's axis order."""

    family: Family
    values: tuple[Any, ...]

    def __getitem__(self, axis: str) -> Any:
        return self.values[self.family.axes.index(axis)]

    @property
    def seed(self) -> int:
        return int(self["seed"])

    @property
    def key(self) -> str:
        """DVC's matrix key: the values joined by ``-`` (``latent_ode-30-0``)."""
        return "-".join(str(v) for v in self.values)

    @property
    def stem(self) -> str:
        """The file stem (``latent_ode_n30-s0``)."""
        return self.family.stem.format(**dict(zip(self.family.axes, self.values,
                                                  strict=True)))

    def stage(self, step: str = "train") -> str:
        """The DVC stage of ``step`` (train, evaluate): ``train_latent@latent_ode-30-0``;
        also the MLflow run name and the progress bar's label."""
        return f"{step}_{self.family.name}@{self.key}"

    def writer(self, kind: str) -> str:
        """The stage that writes the run's file of ``kind``: its training stage (model,
        snapshots, log, summary) or its evaluation (metrics, budget, curve, predictions)."""
        return self.stage("train" if kind in TRAIN_FILES else "evaluate")

    def file(self, kind: str) -> str:
        """The name of the run's file of ``kind`` in its family's folder, for a stage
        given that folder (``--weights-dir data/models/toy``): ``linear-s0.pt``."""
        return self.path(kind).name

    def path(self, kind: str, root: str | Path | None = None) -> Path:
        """The run's file of ``kind`` (a key of :data:`FILES`), under its default top
        folder (``data/models``, ``metrics``, ``data/eval``) or under ``root`` instead
        (a stage's ``--metrics-dir``, the report's metrics folder): ``root/<family
        folder>/<stem><suffix>``. An error if the family writes no such file."""
        top, suffix = FILES[kind]
        fam = self.family
        if kind == "snapshots":
            suffix = suffix.format(ext=fam.snapshots)
        if not self.has(kind):
            raise ValueError(f"the runs of {fam.name} write no {kind!r} file; they write "
                             f"{', '.join(k for k in FILES if self.has(k))}")
        return Path(top if root is None else root, fam.folder, self.stem + suffix)

    def has(self, kind: str) -> bool:
        """Whether the run has a file of ``kind``: the evaluation's extra files are its
        family's ``outputs``; snapshots, where the family keeps them."""
        fam = self.family
        if kind in ("budget", "curve", "predictions"):
            return kind in fam.outputs
        return kind != "snapshots" or fam.snapshots is not None

    def identity(self, data: str | Path | None = None) -> RunIdentity:
        """What its model file and training summary record, and what a later stage
        checks: experiment, model, the other axes, seed and the data it trained on.
        ``data`` is named relative to the working tree's root (the nearest folder up
        from the working directory with a ``dvc.yaml``; else the working directory), as
        dvc.yaml's cmd names it: ``./data/x``, ``../data/x`` from ``stages/`` and an
        absolute path are all ``data/x``, and a copy of the repository (``dvc exp run``'s
        temporary workspace) still matches."""
        fam = self.family
        extra = {a: v for a, v in zip(fam.axes, self.values, strict=True)
                 if a not in (fam.model_axis, "seed")}
        keys: dict[str, Any] = {"experiment": fam.experiment, "model": self[fam.model_axis],
                                **({"task": fam.task} if fam.task else {}), **extra,
                                "seed": self.seed}
        if data is not None:
            path, cwd = Path(os.path.abspath(data)), Path.cwd()
            root = next((d for d in (cwd, *cwd.parents) if (d / "dvc.yaml").is_file()), cwd)
            keys["data"] = (path.relative_to(root) if path.is_relative_to(root) else path
                            ).as_posix()
        return RunIdentity(self.stage("train"), keys)


def run(family: str, **values: Any) -> Run:
    """The run of ``family`` with these axis values, e.g. ``run("mnist", model="odenet",
    seed=0)``; every axis must be given, and only those."""
    fam = FAMILIES[family]
    if set(values) != set(fam.axes):
        raise TypeError(f"a {family} run is named by {', '.join(fam.axes)}; got "
                        f"{', '.join(values) or 'nothing'}")
    return Run(fam, tuple(values[a] for a in fam.axes))


def grid(family: str, **axes: Iterable[Any]) -> list[Run]:
    """Every run of the matrix ``axes`` (each a sequence of values), in DVC's order:
    the product of the axes in the family's axis order, the last varying fastest."""
    fam = FAMILIES[family]
    if set(axes) != set(fam.axes):
        raise TypeError(f"a {family} grid takes {', '.join(fam.axes)}; got "
                        f"{', '.join(axes) or 'nothing'}")
    return [Run(fam, values) for values in itertools.product(*(list(axes[a])
                                                               for a in fam.axes))]


def cnf(task: str, model: str, seed: int, *, target: str | None = None,
        width: int | None = None) -> Run:
    """The CNF run of ``task`` (``ml``: on ``target``; ``capacity``: at ``width``)."""
    if task == "ml":
        return run("cnf_ml", target=target, model=model, seed=seed)
    return run("cnf_capacity", model=model, width=width, seed=seed)
