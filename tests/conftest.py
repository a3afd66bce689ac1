"""Shared fixtures. Tests run single-threaded for stable timings and determinism."""

import errno
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
torch.set_num_threads(1)


# Longest first: under pytest-xdist these modules (real `dvc repro` runs, minutes
# each) start at once on their own workers, instead of last on a busy one.
_LONGEST = ("test_pipeline.py", "test_resume.py", "test_ddp_stage.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(_LONGEST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(_LONGEST)))  # stable


@pytest.fixture
def f64():
    """Run a test in float64 (gradcheck, exact-solution bounds)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture
def disk_full_after(monkeypatch):
    """``disk_full_after(n)``: every ``Path.write_bytes`` after the first ``n`` fails
    with ENOSPC, as a disk that fills up (where a small tmpfs cannot be mounted)."""
    real = Path.write_bytes

    def install(n: int) -> None:
        calls = []

        def fill(self, data):
            calls.append(self)
            if len(calls) > n:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(self, data)

        monkeypatch.setattr(Path, "write_bytes", fill)

    return install
