"""MNIST (LeCun et al. 1998) for paper sec. 3 / Table 1: download or local mirror,
checksums, and the train/test loaders.

:func:`prepare_mnist` writes ``dest/MNIST/raw/<four IDX files>``, the layout that
``torchvision.datasets.MNIST(root=dest, download=False)`` loads. With network access
it uses torchvision's normal download; offline, ``mirror`` names a folder holding the
four original IDX files (gzipped or not, e.g. ``train-images-idx3-ubyte.gz``). Every
uncompressed file is checked against the well-known MD5 sums before anything appears
at ``dest``: the copy is built in a temp folder next to ``dest`` and renamed into
place, so a corrupt or truncated file leaves no partial output.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ..config import num

# torchvision (~0.8 s to import) is imported where a dataset is read or downloaded, so a
# stage that only needs the config classes (the report, the figures) never pays for it

MIRROR_ENV = "MNIST_MIRROR"
# uncompressed name -> (MD5 of the uncompressed bytes, size in bytes)
FILES: dict[str, tuple[str, int]] = {
    "train-images-idx3-ubyte": ("6bbc9ace898e44ae57da46a324031adb", 47_040_016),
    "train-labels-idx1-ubyte": ("a25bea736e30d166cdddb491f175f624", 60_008),
    "t10k-images-idx3-ubyte": ("2646ac647ad5339dbf082846283269ea", 7_840_016),
    "t10k-labels-idx1-ubyte": ("27ae3e4e09519cfbb04c329615203637", 10_008),
}
MEAN, STD = 0.1307, 0.3081  # pixel statistics of the training set, in [0, 1]
_CHUNK = 1 << 20


class MnistError(OSError):
    """MNIST cannot be prepared or read: missing mirror, corrupt file, failed download.
    An OSError, so the stage runner shows it as one ``error:`` line."""


def raw_folder(dest: str | Path) -> Path:
    """Where torchvision looks for the IDX files under ``root=dest``."""
    return Path(dest) / "MNIST" / "raw"


def resolve_mirror(param: str | Path | None,
                   environ: Mapping[str, str] = os.environ) -> Path | None:
    """The mirror folder to use: ``param`` (from params.yaml) if set, else the
    ``MNIST_MIRROR`` environment variable, else None (download)."""
    value = param if param not in (None, "") else environ.get(MIRROR_ENV) or None
    return None if value is None else Path(value).expanduser()


def _copy_checked(src: Path, dst: Path, name: str) -> None:
    """Copy ``src`` (gzipped if it ends in .gz) to ``dst`` uncompressed, checking the
    MD5 and size of the uncompressed bytes against :data:`FILES`."""
    want_md5, want_size = FILES[name]
    md5, size = hashlib.md5(usedforsecurity=False), 0
    opener = gzip.open if src.suffix == ".gz" else open
    try:
        with opener(src, "rb") as fin, open(dst, "wb") as fout:
            while chunk := fin.read(_CHUNK):
                md5.update(chunk)
                size += len(chunk)
                fout.write(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise MnistError(f"{src}: cannot decompress ({err}); the file is truncated or "
                         "corrupt. Replace it with a fresh copy of the original MNIST "
                         "file.") from None
    if size != want_size or md5.hexdigest() != want_md5:
        what = "truncated" if size < want_size else "corrupt"
        raise MnistError(f"{src}: checksum mismatch for {name} (MD5 {md5.hexdigest()}, "
                         f"{size} bytes; expected MD5 {want_md5}, {want_size} bytes): the "
                         f"file is {what}. Replace it with a fresh copy of the original "
                         "MNIST file.")


def _find_in_mirror(mirror: Path, name: str) -> Path:
    for candidate in (mirror / name, mirror / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise MnistError(f"MNIST mirror {mirror} has no {name} or {name}.gz; it must hold the "
                     f"four original IDX files: {', '.join(FILES)} (gzipped or not)")


def _check_file(path: Path, name: str) -> bool:
    want_md5, want_size = FILES[name]
    if not path.is_file() or path.stat().st_size != want_size:
        return False
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            md5.update(chunk)
    return md5.hexdigest() == want_md5


def is_prepared(dest: str | Path) -> bool:
    """True when ``dest`` holds all four IDX files with the right MD5 sums."""
    raw = raw_folder(dest)
    return all(_check_file(raw / name, name) for name in FILES)


def _download(tmp_root: Path) -> None:
    from torchvision import datasets

    try:
        datasets.MNIST(root=str(tmp_root), train=True, download=True)
    except (RuntimeError, OSError) as err:
        raise MnistError(f"MNIST download failed ({err}). Without network access, set "
                         f"{MIRROR_ENV} (or the params key) to a folder holding the four "
                         "original IDX files.") from None
    raw = raw_folder(tmp_root)
    for name in FILES:
        if not _check_file(raw / name, name):
            raise MnistError(f"downloaded {name} fails its MD5 check; retry the download "
                             f"or use a mirror via {MIRROR_ENV}")


def prepare_mnist(dest: str | Path, *, mirror: str | Path | None = None) -> Path:
    """Make ``dest`` a complete, checked MNIST root for torchvision; returns ``dest``.

    Args:
        dest: output folder; gets ``MNIST/raw/*-ubyte``. An already complete copy
            is kept as is.
        mirror: folder with the four original IDX files (``.gz`` or not); None
            downloads them with torchvision.

    Raises:
        MnistError: missing mirror or file, checksum mismatch, truncated file, failed
            download, or a non-empty ``dest`` that is not a complete copy. Nothing is
            left at ``dest`` in these cases.
    """
    dest = Path(dest)
    if is_prepared(dest):
        return dest
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise MnistError(f"{dest} exists but is not a complete MNIST copy; remove it and "
                         "prepare again")
    sources: dict[str, Path] = {}
    if mirror is not None:
        mirror = Path(mirror)
        if not mirror.is_dir():
            raise MnistError(f"MNIST mirror folder {mirror} does not exist. Point "
                             f"{MIRROR_ENV} (or the params key) at a folder holding "
                             f"{', '.join(FILES)} (gzipped or not), or unset it to "
                             "download from the internet.")
        sources = {name: _find_in_mirror(mirror, name) for name in FILES}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    try:
        if mirror is None:
            _download(tmp)
        else:
            raw = raw_folder(tmp)
            raw.mkdir(parents=True)
            for name, src in sources.items():
                _copy_checked(src, raw / name, name)
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)  # atomic; replaces an empty ``dest`` folder
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return dest


@dataclasses.dataclass(frozen=True)
class MnistDownloadConfig:
    """``download_mnist``: ``mirror`` is a folder with the four IDX files; null means
    the ``MNIST_MIRROR`` environment variable, else a download."""

    mirror: str | None = None


@dataclasses.dataclass(frozen=True)
class MnistDataConfig:
    """Loader settings. The reference uses batch 128 (test 1000), random crops with
    padding 4, and no normalisation; the tutorial notebook normalises with the
    training-set mean/std. ``train_subset``/``test_subset`` take a seeded random
    subset of that many images (tiny profiles)."""

    batch_size: int = num(128, gt=0)
    test_batch_size: int = num(1000, gt=0)
    augment: bool = True
    normalize: bool = True
    train_subset: int | None = num(None, gt=0)
    test_subset: int | None = num(None, gt=0)
    num_workers: int = num(0, ge=0)


def _transforms(augment: bool, normalize: bool):  # -> torchvision.transforms.Compose
    from torchvision import transforms

    steps: list = [transforms.RandomCrop(28, padding=4)] if augment else []
    steps.append(transforms.ToTensor())  # (1, 28, 28) in [0, 1]
    if normalize:
        steps.append(transforms.Normalize((MEAN,), (STD,)))
    return transforms.Compose(steps)


def _subset(ds: Dataset, n: int | None, seed: int, split: str) -> Dataset:
    total = len(ds)  # type: ignore[arg-type]
    if n is None:
        return ds
    if n > total:
        raise ValueError(f"{split}_subset={n} exceeds the {total} {split} images")
    idx = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n]
    return Subset(ds, sorted(idx.tolist()))


def mnist_datasets(root: str | Path, cfg: MnistDataConfig, *, seed: int = 0
                   ) -> tuple[Dataset, Dataset]:
    """Train (augmented if ``cfg.augment``) and test datasets from a prepared root."""
    if not raw_folder(root).is_dir():
        raise MnistError(f"no MNIST under {root}; run prepare_mnist({str(root)!r}) "
                         "first (the download_mnist stage does)")
    from torchvision import datasets

    train = datasets.MNIST(str(root), train=True, download=False,
                           transform=_transforms(cfg.augment, cfg.normalize))
    test = datasets.MNIST(str(root), train=False, download=False,
                          transform=_transforms(False, cfg.normalize))
    return (_subset(train, cfg.train_subset, seed, "train"),
            _subset(test, cfg.test_subset, seed + 1, "test"))


def mnist_loaders(root: str | Path, cfg: MnistDataConfig, *, seed: int = 0
                  ) -> tuple[DataLoader, DataLoader]:
    """Shuffled train loader (seeded generator; drops the last partial batch, as the
    reference does, unless the set is smaller than one batch) and ordered test loader."""
    train, test = mnist_datasets(root, cfg, seed=seed)
    n_train = len(train)  # type: ignore[arg-type]
    common = {"num_workers": cfg.num_workers, "persistent_workers": cfg.num_workers > 0,
              "pin_memory": torch.cuda.is_available()}
    train_loader = DataLoader(train, batch_size=cfg.batch_size, shuffle=True,
                              drop_last=n_train > cfg.batch_size,
                              generator=torch.Generator().manual_seed(seed), **common)
    test_loader = DataLoader(test, batch_size=cfg.test_batch_size, shuffle=False, **common)
    return train_loader, test_loader
