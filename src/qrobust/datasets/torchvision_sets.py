"""CIFAR-10, SVHN and MNIST read from torchvision's real on-disk formats under `root`, safely.

With `checksums` on (config `data.checksums`, the default) every raw file is checked against the md5
torchvision publishes for it before anything parses it (MNIST: torchvision publishes the md5 of the
.gz archives, so those must sit beside the extracted files, as torchvision's download leaves them,
and each extracted file must equal its archive's content). Off, for a subset written in the same
format (as the tests do). Either way nothing in a raw file can run code: CIFAR-10's pickles go
through an unpickler that admits plain containers and numpy arrays only, SVHN's .mat files through
scipy, MNIST's idx files through a byte parser; a file of the wrong shape or format is one line
naming it and the fix. No download at run time.
"""
from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np

from qrobust.datasets._base import DATASETS, RAW_FILES, Split, download_hint, from_hwc, require_files

CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
# torchvision's published md5s (torchvision.datasets.CIFAR10 / SVHN / MNIST; copied so that reading
# data does not import torchvision; tests/datasets checks they still match torchvision's)
MD5 = {
    "cifar10": {"data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
                "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
                "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
                "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"},
    "svhn": {"train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373", "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3"},
    "mnist": {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
              "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
              "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
              "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
}
OFF = "or set data.checksums: false for a subset written in the same format"


class RawDataError(ValueError):
    """A raw file that fails its checksum, is not of the expected format, or would run code."""


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def check_md5(dataset: str, path: Path, how: str) -> None:
    want = MD5[dataset][path.name]
    got = _md5(path)
    if got != want:
        raise RawDataError(f"{path}: md5 {got} is not torchvision's published {want} for {dataset}; {how}, {OFF}")


# -- CIFAR-10: pickles -------------------------------------------------------------------------------
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 pickles bytes at protocol 2
}


class _SafeUnpickler(pickle.Unpickler):
    """Plain containers, strings, numbers and numpy arrays; any other global is refused."""

    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused {module}.{name}")


def safe_unpickle(path: Path, how: str):
    try:
        with open(path, "rb") as f:
            return _SafeUnpickler(f, encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise RawDataError(f"{path}: not a plain data pickle ({e}); nothing in it was run. {how}") from None
    except Exception as e:  # truncated or not a pickle at all
        raise RawDataError(f"{path}: not a readable pickle ({type(e).__name__}: {e}); {how}") from None


def _cifar_batch(path: Path, how: str) -> tuple[np.ndarray, list]:
    blob = safe_unpickle(path, how)
    data = blob.get("data") if isinstance(blob, dict) else None
    labels = (blob.get("labels", blob.get("fine_labels")) if isinstance(blob, dict) else None)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        shape = getattr(data, "shape", None)
        raise RawDataError(f"{path}: 'data' must be a uint8 array N x 3072 (32x32 RGB rows), got "
                           f"{type(data).__name__} {shape}; {how}")
    if labels is None or len(labels) != len(data) or not all(isinstance(v, (int, np.integer)) and 0 <= v < 10 for v in labels):
        raise RawDataError(f"{path}: 'labels' must list {len(data)} integers 0..9; {how}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), list(labels)


@RAW_FILES.register("cifar10")
def cifar10_files(root) -> list[Path]:
    return [Path(root) / "cifar-10-batches-py" / n for n in CIFAR10_FILES]


@DATASETS.register("cifar10")
def cifar10(root, checksums: bool = True, **_) -> tuple[Split, Split]:
    root = Path(root)
    files = cifar10_files(root)
    hint = download_hint("CIFAR10", root)
    require_files("cifar10", files, hint)
    how = f"re-extract cifar-10-python.tar.gz into {root}"
    if checksums:
        for f in files:
            check_md5("cifar10", f, how)
    meta = safe_unpickle(files[-1], how)
    if not isinstance(meta, dict) or len(meta.get("label_names", [])) != 10:
        raise RawDataError(f"{files[-1]}: expected a dict with 10 label_names; {how}")
    parts = [_cifar_batch(f, how) for f in files[:-1]]
    train = parts[:5]
    return (from_hwc(np.concatenate([p[0] for p in train]), sum((p[1] for p in train), [])),
            from_hwc(parts[5][0], parts[5][1]))


# -- SVHN: MATLAB files ------------------------------------------------------------------------------
def _svhn_mat(path: Path, how: str) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:
        raise RawDataError(f"{path}: not a readable .mat file ({type(e).__name__}: {e}); {how}") from None
    x, y = mat.get("X"), mat.get("y")
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8:
        raise RawDataError(f"{path}: 'X' must be uint8 32 x 32 x 3 x N, got {getattr(x, 'dtype', None)} "
                           f"{getattr(x, 'shape', None)}; {how}")
    y = np.asarray(y).reshape(-1) if y is not None else None
    if y is None or len(y) != x.shape[3] or y.min(initial=1) < 1 or y.max(initial=1) > 10:
        raise RawDataError(f"{path}: 'y' must hold {x.shape[3]} labels 1..10; {how}")
    return np.transpose(x, (3, 0, 1, 2)), (y % 10).astype(np.int64)  # label 10 is the digit 0


@RAW_FILES.register("svhn")
def svhn_files(root) -> list[Path]:
    return [Path(root) / "train_32x32.mat", Path(root) / "test_32x32.mat"]


@DATASETS.register("svhn")
def svhn(root, checksums: bool = True, **_) -> tuple[Split, Split]:
    root = Path(root)
    files = svhn_files(root)
    require_files("svhn", files, download_hint("SVHN", root))
    how = f"download it again into {root}"
    if checksums:
        for f in files:
            check_md5("svhn", f, how)
    (xtr, ytr), (xte, yte) = (_svhn_mat(f, how) for f in files)
    return from_hwc(xtr, ytr), from_hwc(xte, yte)


# -- MNIST: idx files ----------------------------------------------------------------------------------
def parse_idx(data: bytes, path: Path, ndim: int, how: str) -> np.ndarray:
    """An idx file of unsigned bytes (magic 0x0000 08 <ndim>, big-endian dims, then the values)."""
    if len(data) < 4 + 4 * ndim:
        raise RawDataError(f"{path}: too short for an idx file ({len(data)} bytes); {how}")
    magic = struct.unpack(">I", data[:4])[0]
    if magic != 0x0800 | ndim:
        raise RawDataError(f"{path}: idx magic number {magic:#x} is not {0x0800 | ndim:#x} "
                           f"(unsigned bytes, {ndim} dims); {how}")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)):
        raise RawDataError(f"{path}: header says {' x '.join(map(str, dims))} values, the file holds {len(body)}; {how}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims).copy()


@RAW_FILES.register("mnist")
def mnist_files(root) -> list[Path]:
    return [Path(root) / "MNIST" / "raw" / n for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]


@DATASETS.register("mnist")
def mnist(root, checksums: bool = True, **_) -> tuple[Split, Split]:
    root = Path(root)
    files = mnist_files(root)
    require_files("mnist", files, download_hint("MNIST", root))
    how = f"download MNIST again into {root}"
    blobs = []
    for f in files:
        data = f.read_bytes()
        if checksums:
            gz = f.with_name(f.name + ".gz")
            if not gz.exists():
                raise RawDataError(f"{gz}: missing; torchvision publishes the md5 of MNIST's .gz archives only: keep "
                                   f"them beside the extracted files (torchvision's download does), {OFF}")
            check_md5("mnist", gz, how)
            if gzip.decompress(gz.read_bytes()) != data:
                raise RawDataError(f"{f}: differs from the content of its verified archive {gz.name}; "
                                   f"extract it again (gunzip -k {gz})")
        blobs.append(data)
    xtr, ytr, xte, yte = (parse_idx(b, f, 3 if "images" in f.name else 1, how) for b, f in zip(blobs, files))
    for x, y, f in ((xtr, ytr, files[1]), (xte, yte, files[3])):
        if len(x) != len(y):
            raise RawDataError(f"{f}: {len(y)} labels for {len(x)} images; {how}")
    return from_hwc(xtr, ytr), from_hwc(xte, yte)

