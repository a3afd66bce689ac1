"""SIGTERM, for real. A `dvc repro` killed by SIGTERM takes its running stage with it
(``stages/run.py``, every stage's entry point: the stage asks Linux for SIGTERM when its
parent dies), whether
the shell DVC runs the command in execs it (bash) or waits for it (dash as /bin/sh);
and a stage that gets SIGTERM ends cleanly: ``terminated``, status 143, its staged
outputs removed, its MLflow run KILLED."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAND_IN = '''import os
import sys
import time
from pathlib import Path


def parser():  # run.py calls it first: past the entry point, the stage now "trains"
    Path(sys.argv[2]).write_text(f"{os.getpid()} {os.getppid()}")
    time.sleep(300)  # a long training run


def prepare(ctx):
    raise AssertionError("never reached")
'''
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the parent-death signal is Linux's")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, ended but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_for(what, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert proc is None or proc.poll() is None, "ended early"
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.1)


@pytest.mark.parametrize("shell", ["/bin/bash", "/bin/sh"])
def test_sigterm_to_dvc_repro_ends_the_running_stage(tmp_path, shell):
    if not Path(shell).exists():
        pytest.skip(f"no {shell}")
    stages = tmp_path / "stages"
    stages.mkdir()
    shutil.copy2(ROOT / "stages" / "run.py", stages / "run.py")  # the mechanism
    (stages / "long.py").write_text(STAND_IN)
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  long:\n    cmd: python stages/run.py long pid.txt\n    outs: [out.txt]\n")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "SHELL": shell}  # DVC runs the command in $SHELL
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "t"]):
        subprocess.run(cmd, cwd=tmp_path, env=env, check=True, capture_output=True)
    pid_file = tmp_path / "pid.txt"
    dvc = subprocess.Popen(["dvc", "repro"], cwd=tmp_path, env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stage = parent = None
    try:
        _wait_for(lambda: pid_file.exists() and pid_file.read_text(), 120, dvc)
        stage, parent = map(int, pid_file.read_text().split())
        time.sleep(0.5)  # past the entry point: the stage now sleeps
        dvc.send_signal(signal.SIGTERM)
        dvc.wait(timeout=30)
        deadline = time.monotonic() + 5
        while _alive(stage) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(stage), (f"the stage (pid {stage}, parent {parent}, dvc "
                                   f"{dvc.pid}) still runs 5 s after dvc got SIGTERM")
    finally:  # whatever the outcome, nothing outlives the test (a waiting shell too)
        for pid in (stage, parent, dvc.pid):
            if pid is not None and _alive(pid):
                os.kill(pid, signal.SIGKILL)
        dvc.wait()


def test_sigterm_ends_a_stage_cleanly(tmp_path):
    (tmp_path / "params.yaml").write_text("common:\n  threads: 1\n")
    db = tmp_path / "mlflow.db"
    out, ready = tmp_path / "out/result.json", tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "_sigterm_stage.py"),
                             "--out", str(out), "--ready", str(ready)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"})
    try:
        _wait_for(ready.exists, 120, proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, (proc.returncode, stderr[-3000:])
    assert stderr.strip().splitlines()[-1] == "terminated"
    assert "Traceback" not in stderr
    assert not out.parent.exists()  # the staged output and the folder made for it: gone
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT status FROM runs").fetchall() == [("KILLED",)]
