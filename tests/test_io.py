import os

import numpy as np
import pytest

from neuralode.io import OutputError, atomic_path, load_arrays, save_arrays, write_json


def test_save_arrays_is_byte_deterministic(tmp_path):
    arrays = {"b": np.arange(5.0), "a": np.eye(2), "kind": np.array("linear")}
    save_arrays(tmp_path / "x.npz", arrays)
    first = (tmp_path / "x.npz").read_bytes()
    save_arrays(tmp_path / "x.npz", dict(reversed(list(arrays.items()))))
    assert (tmp_path / "x.npz").read_bytes() == first
    back = load_arrays(tmp_path / "x.npz")
    assert str(back["kind"]) == "linear" and back["kind"].shape == ()
    np.testing.assert_array_equal(back["a"], np.eye(2))


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists() and os.listdir(tmp_path) == []


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match=r"cannot write .*file/sub/m\.json"):
        write_json(blocker / "sub" / "m.json", {})


def test_missing_input_names_remedy(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"run `dvc repro`"):
        load_arrays(tmp_path / "missing.npz")
