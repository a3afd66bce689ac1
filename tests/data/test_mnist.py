"""MNIST preparation: mirror, checksums (corrupt / truncated files leave no output),
download failure, torchvision layout, loaders."""

import gzip
import os
from pathlib import Path

import pytest
import torch
from torchvision import datasets

from neuralode_repro.config import ConfigError, parse
from neuralode_repro.data.mnist import (
    FILES,
    MEAN,
    STD,
    MnistDataConfig,
    MnistError,
    is_prepared,
    mnist_loaders,
    prepare_mnist,
    raw_folder,
    resolve_mirror,
)

MIRROR = resolve_mirror(None) or Path(__file__).resolve().parents[3] / "shared" / "mnist"
needs_mirror = pytest.mark.skipif(not (MIRROR / "train-labels-idx1-ubyte.gz").is_file(),
                                  reason=f"no MNIST mirror at {MIRROR}; set MNIST_MIRROR")


def _fake_mirror(tmp_path: Path, name: str, data: bytes, gz_name: bool = False) -> Path:
    """A mirror whose file ``name`` holds ``data``; the other three are the real ones."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for other in FILES:
        if other != name:
            os.symlink(MIRROR / f"{other}.gz", mirror / f"{other}.gz")
    (mirror / (f"{name}.gz" if gz_name else name)).write_bytes(data)
    return mirror


def _assert_no_output(tmp_path: Path) -> None:
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mirror"]  # no dest, no temp


@needs_mirror
def test_corrupt_file_rejected_without_output(tmp_path):
    labels = bytearray(gzip.decompress((MIRROR / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    labels[5000] = (labels[5000] + 1) % 10  # one wrong label
    mirror = _fake_mirror(tmp_path, "t10k-labels-idx1-ubyte", bytes(labels))
    with pytest.raises(MnistError, match=r"t10k-labels-idx1-ubyte: checksum mismatch.*"
                                         r"expected MD5 27ae3e4e.*the file is corrupt"):
        prepare_mnist(tmp_path / "out", mirror=mirror)
    _assert_no_output(tmp_path)


@needs_mirror
def test_truncated_file_rejected_without_output(tmp_path):
    labels = gzip.decompress((MIRROR / "train-labels-idx1-ubyte.gz").read_bytes())
    mirror = _fake_mirror(tmp_path, "train-labels-idx1-ubyte", labels[:1000])
    with pytest.raises(MnistError, match=r"train-labels-idx1-ubyte: checksum mismatch.*"
                                         r"1000 bytes.*the file is truncated"):
        prepare_mnist(tmp_path / "out", mirror=mirror)
    _assert_no_output(tmp_path)


@needs_mirror
def test_truncated_gzip_rejected_without_output(tmp_path):
    data = (MIRROR / "train-labels-idx1-ubyte.gz").read_bytes()
    mirror = _fake_mirror(tmp_path, "train-labels-idx1-ubyte", data[: len(data) // 2],
                          gz_name=True)
    with pytest.raises(MnistError, match=r"train-labels-idx1-ubyte.gz: cannot decompress.*"
                                         r"truncated or corrupt"):
        prepare_mnist(tmp_path / "out", mirror=mirror)
    _assert_no_output(tmp_path)


def test_missing_mirror_folder_is_clear(tmp_path):
    with pytest.raises(MnistError, match=r"mirror folder .*nowhere does not exist\. Point "
                                         r"MNIST_MIRROR"):
        prepare_mnist(tmp_path / "out", mirror=tmp_path / "nowhere")
    assert not (tmp_path / "out").exists()


def test_mirror_missing_a_file(tmp_path):
    (tmp_path / "mirror").mkdir()
    with pytest.raises(MnistError, match=r"has no train-images-idx3-ubyte or "
                                         r"train-images-idx3-ubyte\.gz"):
        prepare_mnist(tmp_path / "out", mirror=tmp_path / "mirror")
    _assert_no_output(tmp_path)


def test_failed_download_is_clear(tmp_path, monkeypatch):
    def offline(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(datasets.MNIST, "download", offline)
    with pytest.raises(MnistError, match=r"download failed.*set MNIST_MIRROR"):
        prepare_mnist(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_nonempty_incomplete_dest_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stray.txt").write_text("x")
    with pytest.raises(MnistError, match="exists but is not a complete MNIST copy; remove"):
        prepare_mnist(tmp_path / "out", mirror=tmp_path)


def test_resolve_mirror():
    assert resolve_mirror("a/b", {"MNIST_MIRROR": "c"}) == Path("a/b")
    assert resolve_mirror(None, {"MNIST_MIRROR": "c"}) == Path("c")
    assert resolve_mirror("", {}) is None and resolve_mirror(None, {}) is None


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    if not (MIRROR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no MNIST mirror at {MIRROR}; set MNIST_MIRROR")
    dest = tmp_path_factory.mktemp("mnist") / "raw"
    assert prepare_mnist(dest, mirror=MIRROR) == dest
    return dest


def test_prepare_from_mirror_loads_in_torchvision(prepared):
    assert sorted(p.name for p in raw_folder(prepared).iterdir()) == sorted(FILES)
    assert is_prepared(prepared)
    train = datasets.MNIST(str(prepared), train=True, download=False)
    test = datasets.MNIST(str(prepared), train=False, download=False)
    assert (len(train), len(test)) == (60000, 10000)
    assert train.data.shape == (60000, 28, 28) and int(test.targets.max()) == 9
    assert prepare_mnist(prepared, mirror=MIRROR / "unused") == prepared  # already done


def test_loaders_subset_seed_and_normalisation(prepared):
    cfg = MnistDataConfig(batch_size=32, test_batch_size=50, augment=True,
                          train_subset=100, test_subset=60)
    train, test = mnist_loaders(prepared, cfg, seed=3)
    assert (len(train.dataset), len(test.dataset)) == (100, 60)
    assert len(train) == 3 and len(test) == 2  # last partial train batch dropped
    x, y = next(iter(train))
    assert x.shape == (32, 1, 28, 28) and x.dtype == torch.float32 and y.shape == (32,)
    assert torch.isclose(x.min(), torch.tensor(-MEAN / STD))  # black pixels normalised
    again = next(iter(mnist_loaders(prepared, cfg, seed=3)[0]))[1]
    other = next(iter(mnist_loaders(prepared, cfg, seed=4)[0]))[1]
    assert torch.equal(y, again) and not torch.equal(y, other)
    plain = MnistDataConfig(augment=False, normalize=False, test_subset=10)
    xt, _ = next(iter(mnist_loaders(prepared, plain)[1]))
    assert xt.shape == (10, 1, 28, 28) and 0.0 <= float(xt.min()) < float(xt.max()) <= 1.0


def test_subset_too_large_and_config_strict(prepared):
    with pytest.raises(ValueError, match="test_subset=20000 exceeds the 10000 test images"):
        mnist_loaders(prepared, MnistDataConfig(test_subset=20000))
    with pytest.raises(ConfigError, match=r"data.batch_size: must be > 0"):
        parse(MnistDataConfig, {"batch_size": 0}, "data")


def test_loaders_need_prepared_root(tmp_path):
    with pytest.raises(MnistError, match=r"no MNIST under .*run prepare_mnist"):
        mnist_loaders(tmp_path, MnistDataConfig())
