"""Strict typed config: every bad value gives one error naming key, value and fix."""

import dataclasses
from pathlib import Path

import pytest

from neuralode_repro.config import (
    CommonConfig,
    ConfigError,
    SolverConfig,
    load_params,
    load_section,
    parse,
    read_yaml,
)
from neuralode_repro.data.toy import ToyDataConfig
from neuralode_repro.experiments.toy import ToyTrainConfig

ROOT = Path(__file__).resolve().parents[1]


def test_repository_params_load():
    params = load_params(ROOT / "params.yaml")
    load_section(CommonConfig, "common", params=params)
    load_section(ToyDataConfig, "generate_data.toy", params=params)
    for name in params["train_toy"]["systems"]:
        cfg = load_section(ToyTrainConfig, f"train_toy.systems.{name}", params=params)
        assert dataclasses.is_dataclass(cfg)


def test_configs_are_frozen():
    cfg = SolverConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.rtol = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("data,msg", [
    ({"mehtod": "rk4"}, r"unknown key\(s\) 'mehtod'; allowed keys: method, rtol"),
    ({"method": "rk45"}, r"method: unknown solver 'rk45'; valid: euler, .*dopri5"),
    ({"rtol": -1e-3}, r"solver\.rtol: must be > 0, got -0\.001"),
    ({"rtol": 0.0}, r"solver\.rtol: must be > 0, got 0\.0"),
    ({"rtol": 10.0}, r"solver\.rtol: must be <= 1, got 10\.0"),
    ({"atol": "tiny"}, r"solver\.atol: expected a number, got 'tiny'"),
    ({"adjoint": "yes"}, r"solver\.adjoint: expected true or false, got 'yes'"),
    ({"max_num_steps": 2.5}, r"max_num_steps: expected an integer, got 2\.5"),
    ({"method": "dopri5", "step_size": 0.1}, r"step_size applies to fixed-grid methods"),
    ({"method": "vode_adams", "adjoint": False},
     r"'vode_adams' .* cannot backpropagate through its steps, got adjoint: false"),
])
def test_solver_config_errors(data, msg):
    with pytest.raises(ConfigError, match=msg):
        parse(SolverConfig, data, "params.yaml:train_toy.linear.solver")


def test_scientific_notation_is_a_number(tmp_path):
    """``1e-3`` (no dot) is a number, as in YAML 1.2 and DVC (PyYAML's YAML 1.1 read it
    as a string); a quoted one is a string, which a number field refuses."""
    p = tmp_path / "params.yaml"
    p.write_text("common: {seed: 0}\nsolver: {rtol: 1e-3, atol: 2E-6}\n")
    cfg = load_section(SolverConfig, "solver", p, params=read_yaml(p))
    assert (cfg.rtol, cfg.atol) == (1e-3, 2e-6)
    with pytest.raises(ConfigError, match=r"solver\.rtol: expected a number, got '1e-3'"):
        parse(SolverConfig, {"rtol": "1e-3"}, "solver")


@pytest.mark.parametrize("data,msg", [
    ({"model": "linear", "steps": 0}, r"train_toy\.x\.steps: must be >= 1, got 0"),
    ({"model": "cnn"}, r"model: expected one of 'linear', 'mlp', got 'cnn'"),
    ({}, r"model: missing required key"),
    ({"model": "mlp", "optim": {"name": "adamw"}}, r"optim\.name: expected one of 'adam'"),
    ({"model": "mlp", "min_span": 6.0}, r"min_span=6\.0 must be <= max_span=5\.0"),
    ({"model": "mlp", "hidden": [16, "x"]}, r"hidden\[1\]: expected an integer, got 'x'"),
])
def test_toy_config_errors(data, msg):
    with pytest.raises(ConfigError, match=msg):
        parse(ToyTrainConfig, data, "params.yaml:train_toy.x")


def test_common_device_choices():
    with pytest.raises(ConfigError, match=r"device: expected one of 'auto', 'cpu', 'cuda'"):
        parse(CommonConfig, {"device": "tpu"}, "common")


def test_missing_section_and_file(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("common: {seed: 1}\n")
    with pytest.raises(ConfigError, match=r"missing section 'train_toy' \(found: common\)"):
        load_section(ToyTrainConfig, "train_toy.linear", p)
    with pytest.raises(ConfigError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    p.write_text("common: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(p)


def test_a_seed_outside_the_matrix_names_the_section_and_the_fix():
    """One check for every training stage: latent and MNIST used to raise a bare
    ValueError without the hint."""
    from neuralode_repro.config import ConfigError, check_seed_in
    from neuralode_repro.experiments.latent import LatentTrainConfig, check_inputs

    check_seed_in(1, (0, 1), "train_mnist")
    with pytest.raises(ConfigError, match=r"--seed 7 is not in train_mnist\.seeds \[0, 1\]; "
                                          r"pick one of them or add it there"):
        check_seed_in(7, (0, 1), "train_mnist")
    with pytest.raises(ConfigError, match=r"train_latent\.seeds \[0\]; pick one of them"):
        check_inputs("latent_ode", 30, LatentTrainConfig(), {}, seed=7)


MERGED = """\
defaults: &defaults
  model: mlp
  steps: 10
  solver: {method: dopri5, rtol: 0.001}
fast: &fast {steps: 2, batch_time: 5}
linear:
  <<: *defaults
  model: linear
nonlinear:
  steps: 7
  <<: [*fast, *defaults]
  hidden: [16]
"""


def test_yaml_merge_keys_are_read_as_dvc_reads_them(tmp_path):
    """``<<: *defaults`` is valid YAML and DVC (ruamel.yaml) accepts it: explicit keys
    override merged ones, and in ``<<: [*a, *b]`` a's override b's (b's ``steps`` of 10
    loses to a's 2, which loses to the explicit 7; ``batch_time`` comes from a)."""
    from dvc.utils.serialize import load_yaml

    from neuralode_repro.config import read_yaml

    p = tmp_path / "params.yaml"
    p.write_text(MERGED)
    data = read_yaml(p)
    assert data["linear"] == {"model": "linear", "steps": 10,
                              "solver": {"method": "dopri5", "rtol": 0.001}}
    assert data["nonlinear"] == {"model": "mlp", "steps": 7, "batch_time": 5,
                                 "solver": {"method": "dopri5", "rtol": 0.001}, "hidden": [16]}
    dvc = load_yaml(str(p))
    assert data == dvc
    assert [list(v) for v in data.values()] == [list(v) for v in dvc.values()]  # key order
    p.write_text("common: {seed: 0}\ntrain_toy:\n  systems:\n    linear: &base\n"
                 "      model: linear\n      steps: 10\n    nonlinear:\n      <<: *base\n"
                 "      model: mlp\n")
    cfg = load_section(ToyTrainConfig, "train_toy.systems.nonlinear", p)
    assert cfg.model == "mlp" and cfg.steps == 10


def test_a_merged_mapping_that_overrides_a_key_is_no_duplicate(tmp_path):
    """d overrides e's x and is itself merged into the root and into f: each mapping is
    checked as written, once, and the result is DVC's (ruamel.yaml's)."""
    from dvc.utils.serialize import load_yaml

    from neuralode_repro.config import read_yaml

    p = tmp_path / "params.yaml"
    p.write_text("e: &e {x: 1}\nd: &d {<<: *e, x: 2}\n<<: *d\nf:\n  <<: [*d, *e]\n  y: 3\n")
    assert read_yaml(p) == load_yaml(str(p)) == {"x": 2, "e": {"x": 1}, "d": {"x": 2},
                                                 "f": {"x": 2, "y": 3}}


@pytest.mark.parametrize("text,msg", [
    ("d: &d {x: 1}\na:\n  <<: *d\n  y: 2\n  y: 3\n",
     r"duplicate key 'y' at line 5 \(first at line 4\); keep one of them"),
    ("a:\n  y: 2\n  y: 3\n", r"duplicate key 'y' at line 3 \(first at line 2\)"),
    ("a: {y: 2, 'y': 3}\n", r"duplicate key 'y' at line 1 \(first at line 1\)"),
    ("d: &d {x: 1}\na:\n  <<: *d\n  <<: *d\n",
     r"merge key '<<' given twice, at lines 3 and 4; merge several mappings with "
     r"`<<: \[\*a, \*b\]`"),
    ("a:\n  <<: 3\n", r"merge key '<<' at line 2: expected a mapping or a list of mappings "
                      r"\(e\.g\. \*defaults\), got a scalar"),
])
def test_duplicate_explicit_keys_are_still_refused(tmp_path, text, msg):
    p = tmp_path / "params.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=rf"params\.yaml: {msg}"):
        load_params(p)
