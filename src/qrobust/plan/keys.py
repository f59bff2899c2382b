"""Where a run's files live: a short hash of exactly the config that decides their content.

Each family of files (prepared data, checkpoints of one kind, one kind of metrics) sits in a
folder named `<family>-<8 hex>`, the sha256 of the config slices that made it and of the keys
of the files it was made from (settings that change only speed, such as `threads`, are in no
slice). Two configs therefore never write to the same path, and going back to an earlier config
finds its files where they were: nothing is retrained.
"""
from __future__ import annotations

import hashlib
import json


def pick(config: dict, dotted: str):
    """config["a"]["b"] for "a.b"."""
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


def key(family: str, config: dict, slices=(), upstream=(), extra=None) -> str:
    """`family-<8 hex>` over the named config slices, upstream keys and any extra JSON value."""
    blob = {"slices": {s: pick(config, s) for s in slices}, "upstream": list(upstream), "extra": extra}
    digest = hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:8]
    return f"{family}-{digest}"
