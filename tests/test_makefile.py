"""The Makefile's install picks torch's CPU-only wheels on a machine without a GPU
where the CPU index answers (`make -n`: nothing is installed)."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading

import pytest

from tests._net import free_port
from tests._repo import ROOT


def _install_commands(tmp_path, **make_vars: str) -> str:
    args = [f"{k}={v}" for k, v in make_vars.items()]
    out = subprocess.run(["make", "-n", "install-test", f"VENV={tmp_path / 'venv'}", *args],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return "\n".join(line for line in out.splitlines() if "pip install" in line and "-e" in line)


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU is visible")
def test_cpu_wheels_where_the_cpu_index_answers(tmp_path):
    (tmp_path / "index/torch").mkdir(parents=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(tmp_path / "index"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        cmds = _install_commands(tmp_path, TORCH_CPU_INDEX=url)
    finally:
        server.shutdown()
    assert cmds.count(f"--extra-index-url {url} -e ./library") == 2, cmds


def test_no_extra_index_where_it_does_not_answer_or_is_turned_off(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # a port nothing listens on
    assert "--extra-index-url" not in _install_commands(tmp_path, TORCH_CPU_INDEX=dead)
    assert "--extra-index-url" not in _install_commands(tmp_path, TORCH_INDEX="")
    assert "--extra-index-url https://x.example/cpu -e" in _install_commands(
        tmp_path, TORCH_INDEX="https://x.example/cpu")
