"""Config-keyed folders: a key changes exactly when what it hashes changes."""
import copy

import yaml

from _helpers import ROOT
from qrobust.config import validate_config
from qrobust.plan.keys import key

CFG = validate_config(yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text()))


def test_key_follows_its_slices_and_upstream_only():
    k = key("train", CFG, ["model", "train", "quant"], ["data-1"])
    assert k.startswith("train-") and len(k) == len("train-") + 8
    assert key("train", copy.deepcopy(CFG), ["model", "train", "quant"], ["data-1"]) == k  # deterministic
    other = copy.deepcopy(CFG)
    other["train"]["epochs"] += 1
    assert key("train", other, ["model", "train", "quant"], ["data-1"]) != k
    other = copy.deepcopy(CFG)
    other["threads"] += 3
    other["attack"]["eps"] = 0.3  # a slice this key does not read
    assert key("train", other, ["model", "train", "quant"], ["data-1"]) == k
    assert key("train", CFG, ["model", "train", "quant"], ["data-2"]) != k


def test_dotted_slices_and_extra():
    k = key("robust", CFG, ["dq.eps"])
    other = copy.deepcopy(CFG)
    other["dq"]["act_bits"] = 3  # same section, another key
    assert key("robust", other, ["dq.eps"]) == k
    assert key("robust", CFG, ["dq.eps"], extra={"scheme": 1}) != k
