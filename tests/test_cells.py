"""Cell provenance's pieces: row names, one-line errors, the shifted copy of an input (never the input itself)."""
import json

import pandas as pd
import pytest

from qrobust.commands import _cells
from qrobust.provenance.record import ProvenanceError

TABLE = pd.DataFrame({"Method": ["Vanilla", "Vanilla", "DQ"], "Acc.": ["clean", "adv.", "adv."], "FP": [96.0, 67.3, 70.0]})


def test_rows_are_named_by_as_few_label_columns_as_tell_them_apart():
    assert _cells._keys(TABLE) == (2, ["Vanilla, clean", "Vanilla, adv.", "DQ, adv."])
    assert _cells._locate(TABLE, "Vanilla", "adv", "FP", "t.csv") == 67.3  # --metric adv for "adv."
    assert _cells._locate(TABLE, "DQ", None, "FP", "t.csv") == 70.0  # a prefix naming one row
    with pytest.raises(ProvenanceError, match="names 2 rows of t.csv; name one: Vanilla, clean; Vanilla, adv."):
        _cells._locate(TABLE, "Vanilla", None, "FP", "t.csv")
    with pytest.raises(ProvenanceError, match="--col 'Acc.' is not in t.csv; columns: FP"):
        _cells._locate(TABLE, "DQ", None, "Acc.", "t.csv")


def test_only_measured_numbers_are_shifted():
    rec = {"clean_acc": 97.5, "n": 1000, "eps_frac": 0.1, "run": {"beta": 3.0}, "attack": {"eps": 2.0},
           "members": [{"acc": 50.0}]}
    out = _cells._shifted(rec)
    assert out["clean_acc"] == 97.5 + _cells.SHIFT and out["members"][0]["acc"] == 50.0 + _cells.SHIFT
    assert out["n"] == 1000 and out["eps_frac"] == 0.1 and out["run"] == rec["run"] and out["attack"] == rec["attack"]


def test_the_shifted_copy_of_an_absolute_input_stays_in_scratch(tmp_path, monkeypatch):
    src = tmp_path / "data" / "m.json"
    src.parent.mkdir()
    src.write_text(json.dumps({"acc": 80.0}))
    before = src.read_bytes()
    seen = []

    def build(name, cfg, metrics, scratch):
        seen.append(metrics[0])
        return pd.DataFrame({"Row": ["r"], "Acc": [json.loads(open(metrics[0]).read())["acc"]]})

    monkeypatch.setattr(_cells, "_build", build)
    scratch = tmp_path / "scratch"
    assert _cells._numbers_reach("t", {}, [str(src)], str(src), ("r", None, "Acc", "t.csv", 1), 80.0, scratch)
    assert src.read_bytes() == before and seen[0].startswith(str(scratch))
