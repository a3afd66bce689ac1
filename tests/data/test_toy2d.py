"""Toy 2-D densities: seeded samplers with the documented geometry and noise, and the
Rezende & Mohamed (2015) energies used for density matching (paper Fig. 4)."""

import math

import numpy as np
import pytest
import torch

from neuralode_repro.config import ConfigError, parse
from neuralode_repro.data.toy2d import (
    POTENTIALS,
    PotentialConfig,
    Toy2DConfig,
    grid,
    log_normalizer,
    two_circles,
    two_moons,
)


@pytest.mark.parametrize("sampler", [two_moons, two_circles])
def test_samplers_are_seed_deterministic(sampler):
    a = sampler(257, np.random.default_rng(3))
    b = sampler(257, np.random.default_rng(3))
    c = sampler(257, np.random.default_rng(4))
    assert a.shape == (257, 2) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_config_sample_is_seed_deterministic():
    cfg = parse(Toy2DConfig, {"name": "two_moons", "noise": 0.1})
    a, b = cfg.sample(100, np.random.default_rng(0)), cfg.sample(100, np.random.default_rng(0))
    assert a.dtype == torch.float32 and a.shape == (100, 2)
    assert torch.equal(a, b)


def test_two_circles_geometry_and_noise():
    x = two_circles(20_001, np.random.default_rng(0), noise=0.0, factor=0.3)
    r = np.linalg.norm(x, axis=1)
    outer, inner = np.isclose(r, 1.0), np.isclose(r, 0.3)
    assert (outer | inner).all() and outer.sum() == 10_000 and inner.sum() == 10_001
    noisy = two_circles(20_000, np.random.default_rng(0), noise=0.02, factor=0.3)
    radial = np.linalg.norm(noisy, axis=1)
    dev = np.where(radial > 0.65, radial - 1.0, radial - 0.3)  # radial part of the noise
    assert abs(dev.std() - 0.02) < 0.002


def test_two_moons_geometry_and_noise():
    x = two_moons(10_000, np.random.default_rng(1), noise=0.0) + np.array([0.5, 0.25])
    upper = np.isclose(np.linalg.norm(x, axis=1), 1.0) & (x[:, 1] >= -1e-12)
    lower = np.isclose(np.linalg.norm(x - np.array([1.0, 0.5]), axis=1), 1.0) \
        & (x[:, 1] <= 0.5 + 1e-12)
    assert (upper | lower).all() and upper.sum() == 5000
    noisy = two_moons(50_000, np.random.default_rng(2), noise=0.1)
    # uniform angles on both moons: the mixture is centred on the origin
    np.testing.assert_allclose(noisy.mean(0), [0.0, 0.0], atol=0.02)


def test_sampler_needs_two_points():
    with pytest.raises(ValueError, match="at least 2 samples"):
        two_moons(1, np.random.default_rng(0))


@pytest.mark.parametrize(("data", "match"), [
    ({"name": "two_moons", "factor": 0.5}, "factor applies to two_circles only"),
    ({"name": "two_circles", "factor": 1.5}, r"factor: must be < 1"),
    ({"noise": -0.1}, r"noise: must be >= 0"),
    ({"name": "spirals"}, "expected one of 'two_moons', 'two_circles'"),
    ({"seed": 1}, "unknown key"),
])
def test_toy2d_config_errors(data, match):
    with pytest.raises(ConfigError, match=match):
        parse(Toy2DConfig, data, "data")


def test_log_normalizer_of_a_gaussian_energy():
    # U = |z|^2 / 2 has Z = 2 pi on R^2; [-8, 8]^2 holds all but ~1e-15 of it
    assert log_normalizer(lambda z: 0.5 * (z ** 2).sum(1), lim=8.0, n=300) \
        == pytest.approx(math.log(2 * math.pi), abs=1e-8)


def test_energies_are_finite_and_match_their_definitions():
    z, _ = grid(lim=50.0, n=41)  # far-out points: logsumexp keeps them finite
    for name in POTENTIALS:
        assert torch.isfinite(PotentialConfig(name).energy()(z)).all(), name
    z1 = torch.linspace(-4, 4, 9)
    on_wave = torch.stack([z1, torch.sin(2 * math.pi * z1 / 4)], dim=1)
    torch.testing.assert_close(PotentialConfig("u2_wave").energy()(on_wave), torch.zeros(9))
    ring = PotentialConfig("u1_ring").energy()
    pts = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    u = ring(pts)
    assert u[0] == pytest.approx(float(u[1])) and u[0] < u[2] < u[3]  # two modes on the ring


def test_potential_params_and_envelope():
    wide = parse(PotentialConfig, {"name": "u2_wave", "params": {"width": 0.8}})
    z = torch.tensor([[0.0, 0.4]])
    assert float(wide.energy()(z)) == pytest.approx(0.5 * (0.4 / 0.8) ** 2)
    env = PotentialConfig("u2_wave", envelope_std=2.0).energy()
    assert float(env(z)) == pytest.approx(0.5 * (0.4 / 0.4) ** 2 + 0.5 * 0.16 / 4)
    # with the envelope U_2 is normalisable: log Z converges as the box grows
    env = PotentialConfig("u3_split_wave", envelope_std=1.0).energy()
    assert log_normalizer(env, lim=8.0) == pytest.approx(log_normalizer(env, lim=12.0),
                                                         abs=1e-6)


@pytest.mark.parametrize(("data", "match"), [
    ({"name": "u1_ring", "params": {"period": 2.0}}, "unknown constant.*period.*for u1_ring"),
    ({"name": "u5"}, "expected one of"),
    ({"envelope_std": 0}, r"envelope_std: must be > 0"),
])
def test_potential_config_errors(data, match):
    with pytest.raises(ConfigError, match=match):
        parse(PotentialConfig, data, "target")


@pytest.mark.parametrize("data", [{"name": "two_moons", "noise": 0.05},
                                  {"name": "two_circles", "noise": 0.06, "factor": 0.5}])
def test_true_density_integrates_to_one_and_matches_its_samples(data):
    """The Fig. 5 floor: log_density is a normalised density (midpoint rule on a grid
    fine against the noise), and the sampler draws from it: the sample estimate of the
    entropy -E log p agrees with the grid's -int p log p."""
    cfg = parse(Toy2DConfig, data)
    g, area = grid(3.0, 200, torch.float64)  # spacing 0.03 against noise 0.05-0.06
    log_p = cfg.log_density(g, n_quad=256)
    assert float(log_p.exp().sum() * area) == pytest.approx(1.0, abs=1e-4)
    entropy = float(-(log_p.exp() * log_p).sum() * area)
    x = cfg.sample(10000, np.random.default_rng(0))
    nll = -cfg.log_density(x, n_quad=512)
    se = float(nll.std()) / math.sqrt(len(nll))
    assert abs(float(nll.mean()) - entropy) < 4 * se + 0.02  # + the grid's bias
    # a sample of the other target is far less likely under this density
    other = parse(Toy2DConfig, {"name": "two_moons", "noise": 0.05} if data["name"] ==
                  "two_circles" else {"name": "two_circles", "noise": 0.06})
    y = other.sample(2000, np.random.default_rng(1))
    assert float(-cfg.log_density(y, n_quad=512).mean()) > float(nll.mean()) + 1.0


def test_true_density_needs_noise():
    with pytest.raises(ValueError, match=r"log_density needs noise > 0.*got noise=0"):
        parse(Toy2DConfig, {"name": "two_moons", "noise": 0.0}).log_density(torch.zeros(1, 2))
