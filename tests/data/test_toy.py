import numpy as np
import pytest

from neuralode_repro.config import parse
from neuralode_repro.data.toy import ToyDataConfig, generate_toy, sample_span, true_field

CFG = parse(ToyDataConfig, {"systems": {
    "linear": {"kind": "linear", "A": [[-0.1, -1.0], [1.0, -0.1]]},
    "nonlinear": {"kind": "nonlinear", "A": [[-0.1, -0.5], [0.5, -0.1]],
                  "B": [[0.2, 1.0], [-1.0, 0.2]], "x0": [-1.0, 0.0]}}})


def test_linear_truth_is_matrix_exponential():
    from scipy.linalg import expm

    d = generate_toy(CFG.systems["linear"], CFG, seed=0)
    A = np.array(CFG.systems["linear"].A)
    expected = np.stack([expm(A * t) @ np.array(CFG.z0) for t in d["t"]])
    np.testing.assert_allclose(d["true"], expected, atol=1e-8)
    assert 0.005 < np.std(d["obs"] - d["true"]) < 0.015  # sigma = 0.01


def test_generation_is_seeded():
    a = generate_toy(CFG.systems["nonlinear"], CFG, seed=3)
    b = generate_toy(CFG.systems["nonlinear"], CFG, seed=3)
    c = generate_toy(CFG.systems["nonlinear"], CFG, seed=4)
    np.testing.assert_array_equal(a["obs"], b["obs"])
    assert not np.array_equal(a["obs"], c["obs"])
    assert a["t_extra"][0] > a["t"][-1] and len(a["t_extra"]) == CFG.extrapolate_points


def test_true_field_roundtrip():
    d = generate_toy(CFG.systems["nonlinear"], CFG, seed=0)
    import torch

    f = true_field(d)
    z = torch.tensor(d["true"][:3])
    assert f(torch.zeros(()), z).shape == (3, 2)


def test_true_systems_are_fixed_fields_of_the_data():
    """The data owns its generating systems: fixed (no parameters to learn), and the
    linear one is dz/dt = A z."""
    import torch

    for name in ("linear", "nonlinear"):
        f = CFG.systems[name].field()
        assert list(f.parameters()) == [] and "A" in dict(f.named_buffers())
    f = CFG.systems["linear"].field()
    z = torch.tensor([[0.6, 0.3], [-1.0, 2.0]], dtype=torch.float64)
    expected = z @ torch.tensor(CFG.systems["linear"].A, dtype=torch.float64).T
    assert torch.equal(f(torch.zeros(()), z), expected)


def test_nonlinear_system_needs_b_and_x0():
    from neuralode_repro.config import ConfigError

    with pytest.raises(ConfigError, match="kind 'nonlinear' needs B and x0"):
        parse(ToyDataConfig, {"systems": {"n": {"kind": "nonlinear", "A": [[0, 0], [0, 0]]}}})


def test_sample_span_limits():
    t = np.linspace(0, 31.45, 200)
    rng = np.random.default_rng(0)
    for _ in range(200):
        idx = sample_span(t, rng, 1.0, 5.0, 32)
        assert 2 <= len(idx) <= 32 and np.all(np.diff(idx) > 0)
        assert t[idx[-1]] - t[idx[0]] < 5.0
