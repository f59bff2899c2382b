"""Table 7 with the worst_case job's records: a worst-case column per target/bits group, `worst` rows
with the audit's flags in the long CSV; without worst-case files the table is unchanged."""
import json

import pandas as pd
import pytest
from _records import t7_record

from qrobust.papers.li2024.table7 import LONG_COLUMNS, build, from_files


def _worst(rec, worst, flags=(), eps=0.1):
    run = rec["run"]
    return {"n": 100, "eps": eps, "n_classes": 10, "clean_acc": rec["clean_acc"], "worst_acc": worst,
            "members": [{"name": "pgd@bpda", "attack": "pgd", "path": "bpda", "source": None, "kind": "white",
                         "kwargs": {}, "acc": worst, "seconds": 0.1}],
            "best": "pgd@bpda", "autoattack": None, "correct": {}, "skipped": [],
            "audit": {"checks": [{"check": f, "flagged": True, "value": 1.0, "threshold": 0.0, "detail": ""} for f in flags],
                      "flags": list(flags), "masked": bool(flags), "eps_sweep": []},
            "run": json.loads(json.dumps(run)), "defense": "none",
            "checkpoint": f"results/checkpoints/li-0/{run['scheme']}_{run['target']}_s{run['seed']}.pt", "seconds": {}}


def _records():
    return [t7_record(s, "float", "none", tg, pgd, seed=seed) for s, base in (("ptq", 40.0), ("qat", 50.0))
            for tg, pgd in (("w", base), ("a", base + 10)) for seed in (0, 1)]


def test_without_worst_case_files_nothing_changes(tmp_path):
    t, _ = build(_records(), tmp_path / "t7.csv")
    assert list(t.columns) == ["Scheme", "Init", "Quantization", "Robust opt.", "W4 clean", "W4 PGD", "A4 clean", "A4 PGD"]
    long = pd.read_csv(tmp_path / "t7_long.csv")
    assert list(long.columns) == LONG_COLUMNS and LONG_COLUMNS[-3:] == ["masking", "images", "correct"]
    assert "worst" not in set(long.attack) and long.masking.isna().all()
    assert "worst-case" not in (tmp_path / "t7.md").read_text()


def test_a_worst_case_column_after_each_group(tmp_path):
    recs = _records()
    worst = [_worst(r, r["results"][0]["acc"] - 10.0 - r["run"]["seed"],
                     flags=("zero_gradient",) if r["run"]["target"] == "w" and r["run"]["seed"] == 1 else ())
             for r in recs if r["run"]["scheme"] == "ptq" or r["run"]["target"] == "a"]
    paths = []
    for i, r in enumerate(recs + worst):
        d = tmp_path / "results" / "metrics" / ("worst/w-0" if i >= len(recs) else "li2024/e-0")
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i}.json").write_text(json.dumps(r))
        paths.append(str(d / f"{i}.json"))
    t, _ = from_files(paths, tmp_path / "t7.csv", {})
    assert list(t.columns) == ["Scheme", "Init", "Quantization", "Robust opt.", "W4 clean", "W4 PGD", "W4 worst-case",
                               "A4 clean", "A4 PGD", "A4 worst-case"]
    v = t.set_index("Scheme")
    assert v.loc["ptq", "W4 worst-case"] == 29.5 and v.loc["ptq", "A4 worst-case"] == 39.5  # mean over seeds
    assert v.loc["qat", "A4 worst-case"] == 49.5 and pd.isna(v.loc["qat", "W4 worst-case"])  # no record: empty
    assert "worst-case: per-example worst case over the attack ensemble (eps=0.1" in (tmp_path / "t7.md").read_text()
    long = pd.read_csv(tmp_path / "t7_long.csv", keep_default_na=False, na_values={"bits": [""]})
    w = long[long.attack == "worst"]
    assert len(w) == 6 and set(w.eps) == {0.1}
    row = w[(w.scheme == "ptq") & (w.target == "w") & (w.seed == 1)].iloc[0]
    assert (row.acc, row.masking, row.weight_quantizer, row.act_quantizer) == (29.0, "zero_gradient", "uniform", "")
    assert set(w.masking) == {"", "zero_gradient"} and set(long[long.attack != "worst"].masking) == {""}


def test_a_worst_case_record_of_another_model_is_refused(tmp_path):
    stray = _worst(t7_record("adv-ptq", "adv", "none", "w", 50.0), 20.0)
    with pytest.raises(ValueError, match="table7: the worst-case record of results/checkpoints/li-0/adv-ptq_w_s0.pt"):
        build(_records(), tmp_path / "t7.csv", [stray])
