"""A one-node DDP run (``train_mnist.nproc: 2``) opens no socket beyond loopback:
torchrun's rendezvous, the store its workers share and gloo's own sockets would
otherwise listen on every interface, unauthenticated, for the whole run."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

HELPER = Path(__file__).with_name("_ddp_listen.py")


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # ::ffff:127.0.0.1 (Python 3.11 calls it not loopback)
    return addr.is_loopback


def listeners(pid: int) -> list[tuple[str, str, int]]:
    """(process name, address, port) of every TCP socket listening in ``pid``'s tree."""
    found = []
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:  # ended (or a zombie) between two looks
        return found
    for proc in tree:
        try:
            conns = proc.net_connections(kind="inet")
            name = proc.name()
        except psutil.NoSuchProcess:  # ended meanwhile: its sockets are gone too
            continue
        found += [(name, c.laddr.ip, c.laddr.port) for c in conns
                  if c.status == psutil.CONN_LISTEN]
    return found


@contextmanager
def ddp_pair(folder: Path, temp: Path, **popen: Any) -> Iterator[subprocess.Popen]:
    """``_ddp_listen.py`` started in its own session with ``TMPDIR=temp``, yielded once
    both of its processes have met (``folder/rank0``, ``rank1``); killed with its whole
    group if it is still running when the block ends."""
    proc = subprocess.Popen([sys.executable, str(HELPER), str(folder)], text=True,
                            start_new_session=True, env={**os.environ, "TMPDIR": str(temp)},
                            **popen)
    try:
        deadline = time.monotonic() + 120
        while not all((folder / f"rank{r}").exists() for r in (0, 1)):
            assert proc.poll() is None, (proc.communicate()[0] or "")[-3000:]
            assert time.monotonic() < deadline, "the two processes never met"
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_two_process_run_listens_on_loopback_only(tmp_path):
    temp = tmp_path / "tmp"  # the launcher's private folder goes here, and must go away
    temp.mkdir()
    with ddp_pair(tmp_path, temp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        found = listeners(proc.pid)
        (tmp_path / "stop").touch()
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-3000:]
    assert (tmp_path / "rank0").read_text() == "2.0"  # both processes took part
    exposed = [s for s in found if not _loopback(s[1])]
    assert not exposed, f"listening beyond loopback: {exposed}; all listeners: {found}"
    assert found, "no listener at all: gloo's loopback sockets should be there"
    assert not list(temp.iterdir())
