"""Run this stage under the project's ``.venv`` when the ``python`` on PATH lacks it.

DVC runs each stage's ``python stages/<name>.py`` through the shell, so ``python`` is
whatever PATH finds first: ``.venv/bin/dvc exp run ...`` without an activated venv
finds the system's, which cannot import the pipeline. Every stage imports this module
first; it re-executes the stage with the nearest ``.venv/bin/python`` above it (the
checkout's, also from a ``.dvc/tmp/exps`` temporary workspace), or stops with an error
that says what to do. Standard library only.
"""

import importlib.util
import os
import sys
from pathlib import Path

_GUARD = "NEURALODE_VENV_REEXEC"

if importlib.util.find_spec("neuralode_repro") is None:
    here = Path(__file__).resolve()
    venvs = [d / ".venv" for d in here.parents if (d / ".venv" / "bin" / "python").is_file()]
    if venvs and not os.environ.get(_GUARD) and Path(sys.prefix) != venvs[0]:
        os.environ[_GUARD] = "1"
        python = str(venvs[0] / "bin" / "python")
        os.execv(python, [python, *sys.argv])
    sys.exit(f"error: {sys.executable} cannot import neuralode_repro"
             f"{f' (nor can {venvs[0]}/bin/python)' if venvs else ''}; run `make install`, "
             "then `source .venv/bin/activate` (or run `make repro`, which needs neither)")
