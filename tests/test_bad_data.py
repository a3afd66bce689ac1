"""Hostile inputs between stages: an empty, truncated, foreign or folder-shaped stage
output is one line naming the file, what is wrong and the stage that rewrites it."""

import json
import warnings

import numpy as np
import pytest
import torch

from neuralode_repro.io import load_arrays, read_csv, read_json, save_arrays
from neuralode_repro.snapshots import Snapshots, read_snapshots
from neuralode_repro.training import read_checkpoint

# dvc.lock as DVC writes it: a folder output, and a matrix stage's generated name
LOCK = {"schema": "2.0", "stages": {
    "generate_data": {"cmd": "python stages/generate_data.py --out data",
                      "outs": [{"path": "data/toy", "md5": "0.dir"},
                               {"path": "data/spirals.npz", "md5": "1"}]},
    "train_toy@linear-0": {"cmd": "python stages/train_toy.py linear --seed 0",
                           "outs": [{"path": "data/models/toy/linear-s0.pt", "md5": "2"},
                                    {"path": "metrics/toy/linear-s0_log.csv", "md5": "3"},
                                    {"path": "metrics/toy/linear-s0_train.json", "md5": "4"}]}}}
# dvc.yaml alone (before the first run): a matrix stage's outputs are templates
DVC_YAML = """stages:
  train_mnist:
    matrix: {model: [odenet], seed: [0]}
    cmd: python stages/train_mnist.py ${item.model} --seed ${item.seed}
    outs:
      - data/models/mnist/${item.model}-s${item.seed}.pt
      - data/models/mnist/${item.model}-s${item.seed}_snapshots.pt
    plots:
      - metrics/mnist/${item.model}-s${item.seed}_log.csv:
          cache: false
"""
FIX = r"; it is written by stage generate_data: rerun it with `dvc repro -f generate_data`$"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A working folder with dvc.yaml and dvc.lock, as stages run in."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.lock").write_text(json.dumps(LOCK))  # JSON is YAML
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "data" / "toy").mkdir(parents=True)
    return tmp_path


def _good_npz(path):
    save_arrays(path, {"t": np.linspace(0.0, 1.0, 500), "y": np.ones((500, 2))})
    return path.read_bytes()


@pytest.mark.parametrize("damage,why", [
    (lambda good: good[: len(good) // 2], r"truncated or corrupt zip archive"),
    (lambda good: good[:-7], r"truncated or corrupt zip archive"),
    (lambda good: b"", r"it is empty"),
    (lambda good: b"t,y\n0,1\n", r"not an \.npz \(zip\) archive"),
    (lambda good: b"\x93NUMPY\x01\x00v\x00", r"a \.npy array, not an \.npz archive"),
])
def test_a_bad_npz_names_the_file_the_problem_and_its_stage(repo, damage, why):
    path = repo / "data" / "toy" / "linear.npz"
    path.write_bytes(damage(_good_npz(path)))
    with pytest.raises(ValueError, match=rf"^data/toy/linear\.npz is not a readable \.npz "
                                         rf"file \({why}\){FIX}"):
        load_arrays("data/toy/linear.npz")


def test_a_folder_or_a_corrupt_member_is_named_too(repo):
    (repo / "data" / "spirals.npz").mkdir()
    with pytest.raises(ValueError, match=rf"spirals\.npz is not a readable \.npz file "
                                         rf"\(it is a folder\){FIX}"):
        load_arrays(repo / "data" / "spirals.npz")  # an absolute path: found all the same
    path = repo / "data" / "toy" / "linear.npz"
    good = bytearray(_good_npz(path))
    good[300] ^= 0xFF  # inside the first array: the zip's CRC check fails
    path.write_bytes(bytes(good))
    with pytest.raises(ValueError, match=r"linear\.npz is not a readable \.npz file \(truncated "
                                         rf"or corrupt zip archive\){FIX}"):
        load_arrays(path)


def test_the_stage_comes_from_dvc_yaml_without_a_lock_and_a_generic_hint_without_either(
        repo):
    (repo / "dvc.lock").unlink()
    path = repo / "data" / "models" / "mnist" / "odenet-s0_snapshots.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    with pytest.raises(OSError, match=r"odenet-s0_snapshots\.pt is not a readable snapshots "
                                      r"file \(it is empty\); it is written by stage "
                                      r"train_mnist: rerun it with `dvc repro -f train_mnist`"):
        read_snapshots(path)
    (repo / "dvc.yaml").unlink()
    with pytest.raises(OSError, match=r"snapshots\.pt is not a readable snapshots file "
                                      r"\(it is empty\); rerun the stage that writes it"):
        read_snapshots(path)


def test_a_truncated_snapshots_file_names_the_matrix_stage(repo):
    path = repo / "data" / "models" / "toy" / "linear-s0.pt"
    path.parent.mkdir(parents=True)
    torch.save({"format": 1, "states": [torch.zeros(1000)]}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(OSError, match=r"linear-s0\.pt is not a readable snapshots file "
                                      r"\(truncated, or not written by torch\.save\); it is "
                                      r"written by stage train_toy@linear-0: rerun it with "
                                      r"`dvc repro -f train_toy@linear-0`"):
        read_snapshots(path)


def test_an_unreadable_side_file_of_a_resumed_run_says_how_to_start_over(tmp_path):
    side = tmp_path / "ckpt.pt.curve"
    side.write_bytes(b"garbage")
    with pytest.raises(OSError, match=r"ckpt\.pt\.curve is not a readable snapshots side "
                                      r"file of a resume checkpoint \(truncated, or not "
                                      r"written by torch\.save\); delete it and the "
                                      r"checkpoint beside it to train from the start$"):
        Snapshots([1, 2], side, resumed_steps=1)


def test_bad_json_and_csv_name_their_stage(repo):
    log = repo / "metrics" / "toy" / "linear-s0_train.json"
    log.parent.mkdir(parents=True)
    log.write_text('{"final_loss": 0.1, "ste')
    stage = (r"it is written by stage train_toy@linear-0: rerun it with "
             r"`dvc repro -f train_toy@linear-0`$")
    with pytest.raises(ValueError, match=r"linear-s0_train\.json is not valid JSON "
                                         rf"\(Unterminated string .*\); {stage}"):
        read_json(log)
    log.write_bytes(b"\x80\x04\x95 pickled")  # binary: was a bare UnicodeDecodeError
    with pytest.raises(ValueError, match=r"linear-s0_train\.json is not a readable JSON file "
                                         rf"\(not UTF-8 text at byte 0\); {stage}"):
        read_json(log)
    csv = repo / "metrics" / "toy" / "linear-s0_log.csv"
    csv.write_text("")
    with pytest.raises(ValueError, match=rf"linear-s0_log\.csv is empty; {stage}"):
        read_csv(csv)
    csv.unlink()
    csv.mkdir()
    with pytest.raises(ValueError, match=r"linear-s0_log\.csv is not a readable CSV file \(it "
                                         rf"is a folder\); {stage}"):
        read_csv(csv)


def test_a_checkpoint_that_is_a_folder_is_refused_not_deleted(tmp_path):
    (tmp_path / "ckpt.pt").mkdir()
    (tmp_path / "ckpt.pt" / "mine.txt").write_text("keep")
    with pytest.raises(OSError, match=r"checkpoint .*ckpt\.pt is a folder; move it away or "
                                      r"remove it"):
        read_checkpoint(tmp_path / "ckpt.pt")
    assert (tmp_path / "ckpt.pt" / "mine.txt").read_text() == "keep"
    (tmp_path / "empty.pt").write_bytes(b"")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert read_checkpoint(tmp_path / "empty.pt") is None
    assert [str(w.message) for w in caught] == [
        f"checkpoint {tmp_path / 'empty.pt'} is unreadable (empty file); deleting it and "
        "training from the start"]
