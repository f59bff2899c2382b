"""Write a prepared train/test split (uint8 tensors, labels, meta.json) from the raw data set."""
from __future__ import annotations

import json
import sys


def add_arguments(p) -> None:
    p.add_argument("--cfg", required=True, help="JSON of the config's data section")
    p.add_argument("--out", required=True, help="output folder")


def run(a) -> dict:
    import inspect

    from qrobust.datasets import DATASETS, prepare

    d = json.loads(a.cfg)
    takes = inspect.signature(DATASETS.get(d["dataset"])).parameters
    opts = {k: d[k] for k in ("n_train", "n_test", "image_size") if k in d}
    if "checksums" in d and "checksums" in takes:  # the torchvision formats' md5 check
        opts["checksums"] = d["checksums"]
    meta = prepare(d["dataset"], d.get("raw_root", "data/raw"), a.out, seed=d.get("split_seed", 0), **opts)
    print(f"prepared {meta['dataset']}: {meta['n_train']} train / {meta['n_test']} test, shape {meta['shape']}", file=sys.stderr)
    # the raw files live outside the DAG (a package's data, a download): the record names them
    return {"config": d, "seed": d.get("split_seed", 0), "raw_inputs": meta["raw_files"]}
