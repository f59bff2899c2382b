"""Dataset plumbing: the registry, the prepared-split format, and the missing-files error.

A prepared dataset is `train.pt` / `test.pt` holding {"x": uint8 N x C x H x W, "y": int64 N}
(loadable with torch.load(weights_only=True)) plus `meta.json` with shapes, class count,
per-channel mean/std of the train split and the sha256 of every file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qrobust.plan.registry import Registry

if TYPE_CHECKING:  # torch and numpy are imported where used: the Snakefile's missing-data check needs neither
    import numpy as np
    import torch

DATASETS: Registry = Registry("dataset")
# name -> function(root) listing the raw files a dataset reads: loaders check them, provenance hashes them
RAW_FILES: Registry = Registry("dataset raw-file list")
register_dataset = DATASETS.register
register_raw_files = RAW_FILES.register


class MissingDataError(FileNotFoundError):
    """Raw files are not on disk; the message says which and how to get them."""


@dataclass
class Split:
    x: torch.Tensor  # uint8, N x C x H x W
    y: torch.Tensor  # int64, N

    def __post_init__(self):
        import torch

        if self.x.dtype != torch.uint8 or self.x.ndim != 4:
            raise ValueError(f"images must be uint8 N x C x H x W, got {self.x.dtype} {tuple(self.x.shape)}")
        if self.y.shape != (self.x.shape[0],):
            raise ValueError(f"{self.x.shape[0]} images but labels of shape {tuple(self.y.shape)}")


def require_files(dataset: str, files: list[Path], how: str) -> None:
    missing = [f for f in files if not Path(f).exists()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise MissingDataError(f"dataset {dataset}: missing {missing[0]}{more}; {how}")


def download_hint(cls_name: str, root: Path) -> str:
    return (f"get them on a machine with internet with "
            f"`python -c \"import torchvision; torchvision.datasets.{cls_name}('{root}', download=True)\"` "
            f"(add split='test' for the test split where it applies) and copy {root} here")


def from_hwc(images: np.ndarray, labels) -> Split:
    """N x H x W x C (or N x H x W) uint8 array -> Split."""
    import numpy as np
    import torch

    arr = np.asarray(images, dtype=np.uint8)
    if arr.ndim == 3:
        arr = arr[:, :, :, None]
    x = torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    return Split(x, y)


def stratified_subset(split: Split, n: int | None, seed: int, key: str) -> Split:
    """`n` images of `split` with its class proportions (sklearn's stratified draw with `seed`, kept in their
    original order); the whole split when n is None or covers it."""
    if n is None or n >= len(split.y):
        return split
    import numpy as np
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(split.y))
    try:
        keep, _ = train_test_split(idx, train_size=n, stratify=split.y.numpy(), random_state=seed)
    except ValueError as e:  # fewer images than classes, or a class with one image
        raise ValueError(f"config key {key}: {n} images cannot keep the class proportions of {len(split.y)} ({e}); "
                         "give more, or null for the whole split") from None
    keep = np.sort(keep)
    return Split(split.x[keep], split.y[keep])
