"""The one entry point of every dvc.yaml stage: ``python stages/run.py <stage> [args]``
runs ``stages/<stage>.py`` (its ``prepare`` and ``parser``) through the stage runner;
``_guard`` is the params guard (:mod:`neuralode_repro.cmdguard`). Before it loads the
stage, it makes sure of two things, here and nowhere else.

It runs under the project's ``.venv`` when the ``python`` on PATH lacks it. DVC runs
each stage's command through the shell, so ``python`` is whatever PATH finds first:
``.venv/bin/dvc exp run ...`` without an activated venv finds the system's, which
cannot import the pipeline. It then re-executes itself with the nearest
``.venv/bin/python`` above it (the checkout's, also from a ``.dvc/tmp/exps``
temporary workspace), or stops with an error that says what to do.

A DVC killed by SIGTERM (a scheduler, ``kill``, a CI timeout) does not stop its stage,
which trains on, orphaned, for hours. So under DVC (``DVC_STAGE`` set) the stage asks
Linux for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``: kept across the re-exec
below, not inherited; torchrun's workers, children of the stage, ask for their own),
which the runner turns into a clean exit. The parent is DVC where the shell execs the
command (bash, zsh); a shell that waits instead (dash as ``/bin/sh``: DVC's shell
where ``$SHELL`` is unset) outlives DVC, so then a thread watches the shell's parent.
Standard library only; elsewhere than Linux, nothing changes.
"""

import ctypes
import importlib.util
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

_GUARD = "NEURALODE_VENV_REEXEC"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_SHELLS = {"sh", "dash", "bash", "zsh", "ksh", "mksh", "fish", "busybox"}


def _stat(pid: int) -> tuple[str, int] | None:
    """(command name, parent pid) of ``pid`` from /proc; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, rest = text[text.index("(") + 1:].rsplit(")", 1)  # the name may hold ")"
    return name, int(rest.split()[1])


def _watch(shell: int, dvc: int) -> None:
    """SIGTERM this process once ``shell`` no longer has ``dvc`` as its parent."""
    while True:
        info = _stat(shell)
        if info is None or info[1] != dvc:  # gone, or DVC died and it was reparented
            os.kill(os.getpid(), signal.SIGTERM)
            return
        time.sleep(0.5)


def _end_with_dvc() -> None:
    if not sys.platform.startswith("linux") or "DVC_STAGE" not in os.environ:
        return  # run by hand: a closed terminal's SIGHUP, or nohup, decides as ever
    parent = os.getppid()
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # no C library to ask: run as before
        return
    if prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return
    if os.getppid() != parent:  # died before the request took: no signal will come
        os.kill(os.getpid(), signal.SIGTERM)
    info = _stat(parent)
    if info is not None and info[0] in _SHELLS:
        threading.Thread(target=_watch, args=(parent, info[1]), daemon=True,
                         name="end-with-dvc").start()


def _use_venv() -> None:
    """Re-execute under the nearest ``.venv`` when this python cannot import the pipeline."""
    if importlib.util.find_spec("neuralode_repro") is not None:
        return
    here = Path(__file__).resolve()
    venvs = [d / ".venv" for d in here.parents if (d / ".venv" / "bin" / "python").is_file()]
    if venvs and not os.environ.get(_GUARD) and Path(sys.prefix) != venvs[0]:
        os.environ[_GUARD] = "1"
        python = str(venvs[0] / "bin" / "python")
        os.execv(python, [python, *sys.argv])
    sys.exit(f"error: {sys.executable} cannot import neuralode_repro"
             f"{f' (nor can {venvs[0]}/bin/python)' if venvs else ''}; run `make install`, "
             "then `source .venv/bin/activate` (or run `make repro`, which needs neither)")


def load(name: str) -> ModuleType:
    """``stages/<name>.py`` as a module: its ``prepare`` and ``parser`` (the tests load
    stages through this too)."""
    spec = importlib.util.spec_from_file_location(f"stage_{name}",
                                                  Path(__file__).resolve().parent / f"{name}.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    return stage


def main(argv: list[str]) -> None:
    """``argv``: ``[run.py, <stage>, *its arguments]``, as the command line gives it
    (DDP's relaunch runs the same line under torchrun)."""
    _end_with_dvc()
    _use_venv()
    here = Path(__file__).resolve().parent
    names = sorted(p.stem for p in here.glob("[!_]*.py") if p.stem != "run")
    if len(argv) < 2 or not (argv[1] == "_guard" or argv[1] in names):
        got = repr(argv[1]) if len(argv) > 1 else "none"
        sys.exit(f"error: no stage {got}; usage: python stages/run.py <stage> [args], "
                 f"stage one of: {', '.join(names)}")
    name, args = argv[1], argv[2:]
    if name == "_guard":
        from neuralode_repro.cmdguard import main as guard

        guard(args)
        return
    stage = load(name)
    from neuralode_repro import runner

    parser = stage.parser()
    parser.prog = f"stages/run.py {name}"
    runner.main(stage.prepare, parser, args)


if __name__ == "__main__":
    main(sys.argv)
