"""Bad params are refused when they are loaded, each with one error naming its key:
the whole-file check (``python -m neuralode_repro.params check``, run by ``make repro``
and ``profile apply``) and the file-level checks every stage makes."""

from __future__ import annotations

import copy
import math
import shlex
from pathlib import Path

import pytest
import yaml

from neuralode_repro import profile
from neuralode_repro.config import ConfigError, load_params
from neuralode_repro.params import validate

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
LINEAR = {"kind": "linear", "A": [[-0.1, -1.0], [1.0, -0.1]]}


def _set(params: dict, path: tuple[str, ...], value) -> None:
    *path, last = path
    for key in path:
        params = params[key]
    params[last] = value


# (key path, value, regex of the error)
CASES = {
    "nan spiral radius": (("generate_data", "spirals", "a"), math.nan,
                          r"generate_data\.spirals\.a: expected a finite number, got nan"),
    "infinite spiral end": (("generate_data", "spirals", "t_stop"), math.inf,
                            r"spirals\.t_stop: expected a finite number, got inf"),
    "infinite spiral noise": (("generate_data", "spirals", "noise_std"), math.inf,
                              r"spirals\.noise_std: expected a finite number, got inf"),
    "infinite toy span": (("generate_data", "toy", "t_max"), math.inf,
                          r"generate_data\.toy\.t_max: expected a finite number, got inf"),
    "nan in a matrix": (("generate_data", "toy", "systems", "linear", "A"),
                        [[math.nan, 0.0], [0.0, 1.0]],
                        r"systems\.linear\.A\[0\]\[0\]: expected a finite number, got nan"),
    "infinite lr": (("train_mnist", "optim", "lr"), math.inf,
                    r"train_mnist\.optim\.lr: expected a finite number, got inf"),
    "infinite atol": (("train_toy", "systems", "linear", "solver", "atol"), math.inf,
                      r"train_toy\.systems\.linear\.solver\.atol: expected a finite number, "
                      r"got inf"),
    "system name escapes": (("generate_data", "toy", "systems", "../../escape"), LINEAR,
                            r"toy\.systems: name '\.\./\.\./escape' may use only letters"),
    "target name with a slash": (("train_cnf", "ml", "targets", "a/b"), {"name": "two_moons"},
                                 r"ml\.targets: name 'a/b' may use only letters"),
    "latent variant with a dash": (("train_latent", "models", "ode-2"), {"model": "rnn"},
                                   r"train_latent\.models: name 'ode-2' may use only"),
    "unknown section": (("trian_toy",), {}, r"unknown section\(s\) 'trian_toy'; allowed: common"),
    "scalar under a matrix section": (("train_toy", "systems", "steps"), 100,
                                      r"train_toy\.systems\.steps: expected a mapping with "
                                      r"keys model"),
    "toy seeds repeated": (("train_toy", "seeds"), [0, 0],
                           r"train_toy: seeds: expected a non-empty list of distinct"),
    "matrix entry without data": (("train_toy", "systems", "cubic"), {"model": "mlp"},
                                  r"train_toy\.systems\.cubic: no toy system 'cubic' in "
                                   r"generate_data\.toy\.systems"),
    "seed out of range": (("common", "seed"), 2**40, r"common\.seed: must be <= 2147483647"),
    "negative seed in a list": (("train_mnist", "seeds"), [0, -3],
                                r"train_mnist\.seeds\[1\]: must be >= 0, got -3"),
    "zero-width layer": (("train_toy", "systems", "nonlinear", "hidden"), [0],
                         r"train_toy\.systems\.nonlinear\.hidden\[0\]: must be >= 1, got 0"),
    "momentum with adam": (("train_toy", "systems", "linear", "optim", "momentum"), 0.9,
                           r"train_toy\.systems\.linear\.optim: momentum=0\.9 is ignored"),
    "negative milestone": (("train_mnist", "optim", "milestones"), [-1],
                           r"train_mnist\.optim\.milestones\[0\]: must be >= 1, got -1"),
    "milestones without multistep": (("train_mnist", "optim", "milestones"), [5],
                                     r"milestones/gamma apply to schedule 'multistep' only"),
    "negative capacity": (("train_cnf", "capacity", "widths"), [-2, 8],
                          r"capacity\.widths\[0\]: must be >= 1, got -2"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_value_is_refused_naming_its_key(case):
    key, value, pattern = CASES[case]
    params = copy.deepcopy(PARAMS)
    _set(params, key, value)
    with pytest.raises(ConfigError, match=pattern):
        validate(params)


def test_repository_params_and_profiles_are_valid():
    validate(PARAMS)
    for name in ("tiny", "paper"):
        profile.merged(name, ROOT / "params.yaml", ROOT / "profiles")


@pytest.mark.parametrize("text, pattern", [
    (b"common:\n  seed: 1\n  seed: 2\n", r"duplicate key 'seed' at line 3 \(first at line 2\)"),
    (b"common: {seed: 1}\ncommon: {seed: 2}\n", r"duplicate key 'common' at line 2"),
    (b"common: {profile: caf\xe9}\n", r"not UTF-8 text"),
    (b"- a list\n", r"expected a mapping of sections, got list"),
    (b"common: [unclosed\n", r"not valid YAML"),
    (b"report: {}\nextras: {}\n", r"unknown section\(s\) 'extras'"),
], ids=["duplicate key", "duplicate section", "latin-1", "a list", "bad yaml",
        "unknown section"])
def test_bad_params_file_names_the_file(tmp_path, text, pattern):
    path = tmp_path / "params.yaml"
    path.write_bytes(text)
    with pytest.raises(ConfigError, match=rf"params\.yaml: {pattern}"):
        load_params(path)


def test_params_path_missing_or_a_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_params(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"is a folder, not a params file"):
        load_params(tmp_path)


@pytest.fixture
def profiles(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    return folder


@pytest.mark.parametrize("overlay, pattern", [
    ("train_toy:\n  systems:\n    linear: {stepz: 3}\n",
     r"train_toy\.systems\.linear: unknown key\(s\) 'stepz'"),
    ("train_mnist:\n  optim: {lr: .inf}\n", r"train_mnist\.optim\.lr: expected a finite"),
    ("trian_toy: {}\n", r"unknown section\(s\) 'trian_toy'"),
    ("train_toy: [unclosed\n", r"profiles/bad\.yaml: not valid YAML"),
    ("- just a list\n", r"profiles/bad\.yaml: expected a mapping of params sections"),
], ids=["unknown key", "non-finite", "unknown section", "malformed", "not a mapping"])
def test_profile_is_checked_before_it_is_merged(profiles, overlay, pattern):
    (profiles / "bad.yaml").write_text(overlay)
    params = profiles.parent / "params.yaml"
    before = params.read_bytes()
    with pytest.raises(ConfigError, match=pattern):
        profile.apply("bad", params, profiles)
    assert params.read_bytes() == before  # nothing merged


def test_a_profile_is_not_stacked_on_another(profiles):
    """Overlaying paper on a workspace that holds tiny (applied, or an experiment
    brought in) would run a mix of the two under the name paper."""
    for name in ("tiny", "paper"):
        (profiles / f"{name}.yaml").write_text((ROOT / "profiles" / f"{name}.yaml").read_text())
    params = profiles.parent / "params.yaml"
    profile.apply("tiny", params, profiles)
    profile.apply("tiny", params, profiles)  # the same one again: a no-op, allowed
    before = params.read_bytes()
    with pytest.raises(ConfigError, match=r"params\.yaml already holds profile 'tiny'.*"
                       r"profile 'paper' on top of it would mix the two.*git checkout"):
        profile.exp_args("paper", params, profiles)
    assert params.read_bytes() == before


def test_profile_args_survive_the_shell_and_may_add_keys():
    """`dvc exp run $(profile args paper)`: no shell quotes (they reached DVC's parser
    as part of the value), and ``++`` so that a key params.yaml lacks can be set."""
    args = profile.exp_args("paper", ROOT / "params.yaml", ROOT / "profiles")
    assert shlex.split(" ".join(args)) == args
    assert "++train_cnf.ml.nf.optim.momentum=0.9" in args  # not in params.yaml
    assert "++nfe_study.tolerances=[1e-05,3e-05,0.0001,0.0003,0.001,0.003,0.01,0.03,0.1," \
           "0.3,1.0]" in args
    assert all(a == "-S" or a.startswith("++") for a in args)
    with pytest.raises(ConfigError, match=r"x\.y: the value 'a b' cannot pass through"):
        profile.override("x.y", "a b")


def test_profile_command_maps_interrupts_and_errors_to_one_line(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(profile, "run", interrupted)
    with pytest.raises(SystemExit) as stop:
        profile.main(["run", "tiny"])
    assert stop.value.code == 130 and capsys.readouterr().err == "interrupted\n"
    with pytest.raises(SystemExit) as stop:
        profile.main(["args", "no-such-profile"])
    assert stop.value.code == 1
    assert capsys.readouterr().err.startswith("error: unknown profile 'no-such-profile'")
