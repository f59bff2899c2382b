"""Dataset registry: `prepare(name, ...)` writes a prepared split; `load_prepared` reads it.

Each dataset is one module of this package that registers its loader (`@DATASETS.register("name")`)
and its raw-file list (`@RAW_FILES.register("name")`); `prepare` imports only that module."""
from __future__ import annotations

from pathlib import Path

from qrobust.datasets._base import DATASETS, RAW_FILES, MissingDataError, Split, stratified_subset
from qrobust.runtime import atomic

__all__ = ["DATASETS", "RAW_FILES", "MissingDataError", "Split", "missing_raw", "prepare", "load_prepared"]


def raw_files(name: str, raw_root) -> list[Path]:
    """The raw files a dataset is read from (recorded in provenance)."""
    return RAW_FILES.get(name)(Path(raw_root) if raw_root else None)


def missing_raw(name: str, raw_root) -> str | None:
    """One line naming the raw files of `name` that are not on disk and how to get them; None when
    all are there. The workflow asks before it plans any job (no prepared split yet)."""
    from qrobust.datasets._base import download_hint

    root = Path(raw_root) if raw_root else None
    files = raw_files(name, raw_root)
    if name == "imagefolder":
        need = [root / "train", root / "test"] if root else []
        missing = [p for p in need if not p.is_dir()]
        how = f"put images under {root}/train/<class>/ and {root}/test/<class>/"
    else:
        missing = [p for p in files if not p.exists()]
        cls = {"cifar10": "CIFAR10", "svhn": "SVHN", "mnist": "MNIST"}.get(name)
        how = download_hint(cls, root) if cls else f"put them under {root}"
    if not missing:
        return None
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    return (f"dataset {name}: missing {missing[0]}{more}; {how}; or point config key data.raw_root at them "
            "(with the slurm profile: on the cluster's shared filesystem)")


def prepare(name: str, raw_root: str | Path, out_dir: str | Path, seed: int = 0, **kw) -> dict:
    """Load raw data through the registry and write train.pt, test.pt and meta.json atomically. `n_train` and
    `n_test` (None: the whole split) go to a loader that takes them (mnist5k splits its images itself); for
    the others they cut a stratified subset of each split, drawn with `seed`."""
    import inspect

    import torch

    loader = DATASETS.get(name)
    takes = inspect.signature(loader).parameters
    sizes = {k: kw.pop(k) for k in ("n_train", "n_test") if k in kw and k not in takes}
    train, test = loader(raw_root, seed=seed, **kw)
    train = stratified_subset(train, sizes.get("n_train"), seed, "data.n_train")
    test = stratified_subset(test, sizes.get("n_test"), seed, "data.n_test")
    kw.update(sizes)
    out = Path(out_dir)
    files = {}
    for part, split in (("train", train), ("test", test)):
        path = out / f"{part}.pt"
        atomic.torch_save(path, {"x": split.x, "y": split.y})
        files[f"{part}.pt"] = atomic.sha256_file(path)
    xf = train.x.float() / 255.0
    meta = {
        "dataset": name,
        "seed": seed,
        "options": dict(kw),
        "shape": list(train.x.shape[1:]),
        "num_classes": int(max(train.y.max(), test.y.max())) + 1,
        "n_train": len(train.y),
        "n_test": len(test.y),
        "train_class_counts": torch.bincount(train.y).tolist(),
        "mean": xf.mean(dim=(0, 2, 3)).tolist(),
        "std": xf.std(dim=(0, 2, 3)).tolist(),
        "sha256": files,
    }
    from qrobust.provenance.refs import ref_of

    # named by what they are (package:<dist>==<version>/<path> for a package's file), not where
    # this machine keeps them: meta.json is the same bytes on a colleague's clone
    meta["raw_files"] = [ref_of(p) for p in raw_files(name, raw_root)]
    atomic.write_json(out / "meta.json", meta)
    return meta


def load_prepared(data_dir: str | Path, part: str) -> tuple[Split, dict]:
    """Read a prepared split, checking its hash against meta.json (a corrupted file is named)."""
    import torch

    data_dir = Path(data_dir)
    meta = atomic.read_json(data_dir / "meta.json")
    path = data_dir / f"{part}.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: prepared data missing; run `qrobust prepare-data` (or the prepare_data rule)")
    if atomic.sha256_file(path) != meta["sha256"][f"{part}.pt"]:
        raise ValueError(f"{path}: sha256 differs from {data_dir / 'meta.json'}; the file is corrupted; {atomic.rerun(path)}")
    blob = torch.load(path, weights_only=True)
    return Split(blob["x"], blob["y"]), meta
