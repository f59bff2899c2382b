"""CIFAR-10, SVHN and MNIST read from torchvision's real on-disk formats under `root`.

torchvision's own classes do the parsing; only their md5 check is relaxed to "files exist",
so a subset written in the same format (as the tests do) loads too. No download at run time.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from qrobust.datasets._base import DATASETS, RAW_FILES, Split, download_hint, from_hwc, require_files

# torchvision is imported inside the loaders: it costs ~1 s, and training or evaluation jobs
# that only read a prepared split should not pay it.
CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


def _cifar10_class():
    import torchvision

    class _CIFAR10(torchvision.datasets.CIFAR10):
        def _check_integrity(self) -> bool:
            root = Path(self.root) / self.base_folder
            return all((root / name).exists() for name, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    return _CIFAR10


def _svhn_class():
    import torchvision

    class _SVHN(torchvision.datasets.SVHN):
        def _check_integrity(self) -> bool:
            return (Path(self.root) / self.filename).exists()

    return _SVHN


@RAW_FILES.register("cifar10")
def cifar10_files(root) -> list[Path]:
    return [Path(root) / "cifar-10-batches-py" / n for n in CIFAR10_FILES]


@DATASETS.register("cifar10")
def cifar10(root, **_) -> tuple[Split, Split]:
    root = Path(root)
    require_files("cifar10", cifar10_files(root), download_hint("CIFAR10", root))
    cls = _cifar10_class()
    tr, te = cls(str(root), train=True), cls(str(root), train=False)
    return from_hwc(tr.data, tr.targets), from_hwc(te.data, te.targets)


@RAW_FILES.register("svhn")
def svhn_files(root) -> list[Path]:
    return [Path(root) / "train_32x32.mat", Path(root) / "test_32x32.mat"]


@DATASETS.register("svhn")
def svhn(root, **_) -> tuple[Split, Split]:
    root = Path(root)
    require_files("svhn", svhn_files(root), download_hint("SVHN", root))
    cls = _svhn_class()
    tr, te = cls(str(root), split="train"), cls(str(root), split="test")
    # torchvision keeps SVHN as N x C x H x W already
    return (from_hwc(np.transpose(tr.data, (0, 2, 3, 1)), tr.labels),
            from_hwc(np.transpose(te.data, (0, 2, 3, 1)), te.labels))


@RAW_FILES.register("mnist")
def mnist_files(root) -> list[Path]:
    return [Path(root) / "MNIST" / "raw" / n for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]


@DATASETS.register("mnist")
def mnist(root, **_) -> tuple[Split, Split]:
    root = Path(root)
    require_files("mnist", mnist_files(root), download_hint("MNIST", root))
    import torchvision

    tr, te = torchvision.datasets.MNIST(str(root), train=True), torchvision.datasets.MNIST(str(root), train=False)
    return from_hwc(tr.data.numpy(), tr.targets.numpy()), from_hwc(te.data.numpy(), te.targets.numpy())
