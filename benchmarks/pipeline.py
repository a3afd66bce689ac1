"""Benchmark: the whole pipeline's wall time, as a user sees it, recorded per profile.

Clones the committed HEAD of this repository into a fresh folder (uncommitted changes
do not count), with a copy of ``../shared`` beside it where the repository has one (as
``.ci/run`` expects: ``MNIST_MIRROR`` defaults to its ``mnist/``), runs ``make repro``
(``make repro PROFILE=<name>`` for a profile: a DVC experiment, see
``neuralode_repro.profile``) there and times the whole command, the install of
``.venv`` included. The result goes into ``benchmarks/pipeline.json`` under the
profile's name ("default" without one): wall seconds, the commit, the date (UTC), the
machine, nproc, the load average at the start and make's exit code. A failed run is
recorded as failed, without a time, and the script exits non-zero; an interrupted one
is not recorded. ``bench.py`` prints the records.

    python benchmarks/pipeline.py [--profile tiny] [--workdir DIR] [--keep]

The environment passes through, less what would run another checkout's code in the
clone: PYTHONPATH, VIRTUAL_ENV and this venv's bin/ on PATH. With ``--keep`` the clone
stays (its path is printed; a maintainer republishes results from it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchutil import git

RECORD = Path(__file__).with_name("pipeline.json")
SHOWN = ("tiny", "default")  # bench.py shows these profiles, recorded or not


class PipelineError(Exception):
    """A run that cannot start, or a record that cannot be read: the message says why."""


def _git(repo: Path, *args: str) -> str:
    ok, text = git(repo, *args)
    if not ok:
        raise PipelineError(f"git {' '.join(args)} in {repo} failed: {text}")
    return text


def command(profile: str | None) -> list[str]:
    """What a user types: ``make repro``, or ``make repro PROFILE=<profile>``."""
    return ["make", "repro", *([f"PROFILE={profile}"] if profile else [])]


def check_profile(repo: Path, profile: str | None) -> None:
    """A profile must exist in the commit measured (a typo is an error, not a failed run)."""
    if profile is None:
        return
    names = _git(repo, "ls-tree", "--name-only", "HEAD", "profiles/").split()
    have = sorted(Path(n).stem for n in names if n.endswith(".yaml"))
    if profile not in have:
        raise PipelineError(f"unknown profile {profile!r}: HEAD has profiles/"
                            f"{{{', '.join(have)}}}.yaml; omit --profile for the default")


def clone(repo: Path, work: Path) -> Path:
    """``git clone`` of ``repo`` (its HEAD) into ``work``, with ``../shared`` copied
    beside it when ``repo`` has one. Returns the clone's root."""
    dst = work / repo.name
    _git(work, "clone", "--quiet", "--no-hardlinks", str(repo), str(dst))
    shared = repo.parent / "shared"
    if shared.is_dir():
        shutil.copytree(shared, work / "shared", symlinks=True)
    return dst


def environment(work: Path) -> dict[str, str]:
    """This process's environment for the run, less PYTHONPATH, VIRTUAL_ENV and this
    venv's bin/ (they would run this checkout's code); MNIST_MIRROR defaults to the
    copied shared/mnist when it exists."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if sys.prefix != sys.base_prefix:
        mine = str(Path(sys.prefix) / "bin")
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if p.rstrip("/") != mine)
    mirror = work / "shared" / "mnist"
    if mirror.is_dir():
        env.setdefault("MNIST_MIRROR", str(mirror))
    return env


def load(path: Path = RECORD) -> dict[str, Any]:
    """The records, profile name -> entry; {} when the file does not exist yet."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PipelineError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}); "
                            "fix it or restore it with `git checkout`") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise PipelineError(f"{path}: expected an object of profile name -> record")
    return data


def save(path: Path, name: str, entry: dict[str, Any]) -> None:
    """Set the record of profile ``name`` (atomically: a killed run leaves the old file)."""
    from neuralode_repro.io import write_json

    write_json(path, {**load(path), name: entry})


def measure(repo: Path, profile: str | None, work: Path) -> tuple[dict[str, Any], Path]:
    """Clone ``repo`` into ``work`` and run the pipeline there. Returns the record (not
    yet saved) and the clone."""
    from neuralode_repro.report.build import hardware

    commit = _git(repo, "rev-parse", "HEAD")
    print(f"pipeline: cloning {repo} at {commit[:7]} into {work}", flush=True)
    root = clone(repo, work)
    cmd = command(profile)
    load_avg = [round(x, 2) for x in os.getloadavg()]
    entry: dict[str, Any] = {
        "command": " ".join(cmd), "commit": commit,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": hardware(), "nproc": len(os.sched_getaffinity(0)),
        "load_avg_start": load_avg}
    print(f"pipeline: start `{entry['command']}` in {root} on {entry['machine']}, "
          f"load average {', '.join(map(str, load_avg))}", flush=True)
    start = time.perf_counter()
    try:
        rc = subprocess.run(cmd, cwd=root, env=environment(work)).returncode
    except OSError as err:  # make itself is missing: no run took place
        raise PipelineError(f"cannot start {cmd[0]}: {err}") from None
    wall = time.perf_counter() - start
    entry["exit_code"] = rc
    entry["status"] = "ok" if rc == 0 else "failed"
    if rc == 0:
        entry["wall_s"] = round(wall, 1)
    return entry, root


def minsec(seconds: float) -> str:
    """2180.4 -> '36:20'."""
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def how(name: str) -> str:
    """The command that records profile ``name``."""
    return "python benchmarks/pipeline.py" + ("" if name == "default" else f" --profile {name}")


def _row(name: str, e: dict[str, Any] | None) -> str:
    if e is None:
        return f"| {name} | no record yet: `{how(name)}` records it | | | | | | |"
    wall = (minsec(e["wall_s"]) if e.get("status") == "ok" and "wall_s" in e
            else f"failed (exit {e.get('exit_code', '?')})")
    load = ", ".join(f"{x:.1f}" for x in e["load_avg_start"]) if e.get(
        "load_avg_start") else "not recorded"
    date = str(e.get("date") or "not recorded").replace("T", " ").removesuffix("Z")[:16]
    cells = [name, wall, str(e.get("commit", "?"))[:7], date,
             e.get("machine") or "not recorded", str(e.get("nproc") or "not recorded"),
             load, e.get("source", "")]
    return "| " + " | ".join(cells) + " |"


def section(path: Path = RECORD) -> str:
    """bench.py's "Whole pipeline" section: one row per recorded profile (tiny and
    default always), read from ``path``; never a number that is not in it."""
    head = ("## Whole pipeline: `make repro` on a fresh clone, install included\n\n"
            f"Not measured by this run: the records in benchmarks/{path.name}, written by "
            "`python benchmarks/pipeline.py [--profile NAME]` (a note says where a record "
            "came from otherwise).\n\n")
    try:
        records = load(path)
    except PipelineError as err:
        return head + f"No figures: {err}.\n"
    names = [*SHOWN, *sorted(set(records) - set(SHOWN))]
    table = ["| profile | wall time (min:s) | commit | date (UTC) | machine | nproc | "
             "load average at the start (1, 5, 15 min) | note |", "|---" * 8 + "|",
             *[_row(n, records.get(n)) for n in names]]
    missing = [n for n in names if n not in records]
    tail = ("\n\nNo record yet for " + ", ".join(f"{n} (`{how(n)}` records it)"
                                                  for n in missing) + "." if missing else "")
    return head + "\n".join(table) + tail + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", help="a profiles/<name>.yaml of HEAD (default: none, the "
                   "default params; recorded as 'default')")
    p.add_argument("--workdir", type=Path, help="make the fresh folder under DIR "
                   "(default: the system's temp folder)")
    p.add_argument("--keep", action="store_true", help="leave the clone in place")
    p.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1],
                   help="the repository to measure (default: %(default)s)")
    p.add_argument("--record", type=Path, default=RECORD, help="default: %(default)s")
    args = p.parse_args(argv)
    profile = None if args.profile in (None, "default") else args.profile
    name = profile or "default"
    try:
        repo = Path(_git(args.repo, "rev-parse", "--show-toplevel"))
        check_profile(repo, profile)
        load(args.record)  # a broken record fails now, not after the run
        if _git(repo, "status", "--porcelain", "--untracked-files=no"):
            print("pipeline: note: uncommitted changes are not measured (a clone of HEAD)")
        if args.workdir:
            args.workdir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="neuralode-pipeline-", dir=args.workdir))
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        entry, root = measure(repo, profile, work)
    except KeyboardInterrupt:
        print("pipeline: interrupted; nothing recorded", file=sys.stderr)
        return 130
    except PipelineError as err:
        print(f"error: {err}; nothing recorded", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    save(args.record, name, entry)
    if entry["status"] == "ok":
        print(f"pipeline: done in {minsec(entry['wall_s'])} ({entry['wall_s']} s); "
              f"recorded as {name!r} in {args.record}")
    else:
        print(f"pipeline: `{entry['command']}` failed (exit {entry['exit_code']}); "
              f"recorded as failed in {args.record}", file=sys.stderr)
    if args.keep:
        print(f"pipeline: the clone is kept at {root}")
    rc = entry["exit_code"]
    return 0 if rc == 0 else rc if 0 < rc < 256 else 1


if __name__ == "__main__":
    sys.exit(main())
