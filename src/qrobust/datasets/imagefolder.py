"""ImageFolder: `root/train/<class>/*.png|jpg` and `root/test/<class>/...`, resized to one size."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qrobust.datasets._base import DATASETS, RAW_FILES, MissingDataError, Split, from_hwc


def _load(folder: Path, size: int, classes: list[str] | None):
    import torchvision  # here, not at module level: jobs that read prepared data skip it

    ds = torchvision.datasets.ImageFolder(str(folder))
    if classes is not None and ds.classes != classes:
        raise ValueError(f"{folder}: classes {ds.classes} differ from the train split's {classes}")
    imgs = [_image(p, size) for p, _ in ds.samples]
    return from_hwc(np.stack(imgs), [t for _, t in ds.samples]), ds.classes


def _image(path: str, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB").resize((size, size)))
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable image ({type(e).__name__}); remove it or replace it "
                         f"with a PNG/JPEG file") from None


@RAW_FILES.register("imagefolder")
def imagefolder_files(root) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


@DATASETS.register("imagefolder")
def imagefolder(root, image_size: int = 32, **_) -> tuple[Split, Split]:
    root = Path(root)
    for part in ("train", "test"):
        if not (root / part).is_dir():
            raise MissingDataError(f"dataset imagefolder: missing folder {root / part}; "
                                   f"put images under {root}/train/<class>/ and {root}/test/<class>/")
    train, classes = _load(root / "train", image_size, None)
    test, _ = _load(root / "test", image_size, classes)
    return train, test
