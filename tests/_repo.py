"""A throwaway git + DVC copy of this repository, for tests that run `dvc repro`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# no network here: MNIST stages read the offline mirror (CI sets MNIST_MIRROR to it)
MIRROR = Path(os.environ.get("MNIST_MIRROR") or ROOT.parent / "shared" / "mnist")


def repo_copy(dst: Path, prepare: Callable[[Path, dict[str, str]], None] | None = None
              ) -> dict[str, str]:
    """Copy the committed and untracked (not ignored) files, less a run's outputs, to
    ``dst``; call ``prepare(dst, env)`` (e.g. to edit params.yaml); commit it all as a
    fresh git repo. Returns the environment to run dvc in (local MLflow store, the
    copy's own ``src`` first on the Python path)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file() and not rel.startswith(("metrics/", "reports/", "dvc.lock")):
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dst / rel)
    # PYTHONPATH: the copy's stages import the copy's code, not this checkout's (the
    # venv's editable install points here), so a test can edit the code it runs
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "MLFLOW_DISABLE_TELEMETRY": "true", "MNIST_MIRROR": str(MIRROR),
           "PYTHONPATH": f"{dst / 'src'}:{dst / 'library'}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    if prepare is not None:
        prepare(dst, env)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "t"]):
        subprocess.run(cmd, cwd=dst, env=env, check=True, capture_output=True)
    return env
