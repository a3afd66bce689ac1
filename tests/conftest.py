"""Shared fixtures. Tests run single-threaded for stable timings and determinism."""

import os

import pytest
import torch

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
torch.set_num_threads(1)


@pytest.fixture
def f64():
    """Run a test in float64 (gradcheck, exact-solution bounds)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)
