"""The scorecard: the papers' numbers beside qrobust's for the same cell, gap only under the same protocol."""
import re
from pathlib import Path

import pandas as pd
import pytest

from qrobust import scorecard
from qrobust.scorecard import build, parse_select, reported

PAPERS = Path(__file__).resolve().parents[2] / "shared" / "papers"
PAPER_CFG = {"data": {"dataset": "cifar10"}, "model": {"name": "wide_resnet", "kwargs": {"depth": 28, "widen_factor": 10}}}
TINY_CFG = {"data": {"dataset": "mnist5k"}, "model": {"name": "small_cnn", "kwargs": {"width": 16}}}


def table1_long(eps: str) -> pd.DataFrame:
    rows = []
    for seed, (clean, adv) in enumerate([(95.0, 40.0), (97.0, 44.0)]):
        for metric, value in (("clean", clean), ("adv", adv)):
            rows.append({"method": "vanilla", "beta": "0.0", "act_bits": "", "seed": str(seed), "metric": metric,
                         "value": str(value), "attack": "fgsm", "eps": eps, "n_test": "1000", "masking": ""})
    return pd.DataFrame(rows)


def table2_long(dq_bits: str = "1") -> pd.DataFrame:
    rows = [{"method": "vanilla", "act_bits": "", "adv": "none", "defense": "none", "seed": "0", "attack": "clean",
             "eps": "0.0", "blackbox": "False", "acc": "96.0"},
            {"method": "dq", "act_bits": dq_bits, "adv": "none", "defense": "none", "seed": "0", "attack": "clean",
             "eps": "0.0", "blackbox": "False", "acc": "97.0"}]
    for k, eps in enumerate(("0.0078431372549019", "0.03137254901960784", "0.06274509803921569")):
        rows.append({"method": "vanilla", "act_bits": "", "adv": "none", "defense": "none", "seed": "0", "attack": "fgsm",
                     "eps": eps, "blackbox": "False", "acc": str(70.0 - 10 * k)})
    return pd.DataFrame(rows)


def row(df, source, r, c):
    hit = df[(df.source == source) & (df.row == r) & (df.col == c)]
    assert len(hit) == 1, (source, r, c)
    return hit.iloc[0]


def test_every_reported_number_names_a_cell_qrobust_builds():
    rep = reported()
    assert len(rep) > 300 and set(rep.paper) >= {"dq"}
    from qrobust.claims import PAPERS as ORDER
    assert list(dict.fromkeys(rep.paper)) == [p for p in ORDER if p in set(rep.paper)]
    for r in rep.itertuples():
        assert r.table in {f"table{i}" for i in range(1, 9)}, r
        assert parse_select(r.select), r
        float(r.value)
        assert r.eps_rank in ("", "0", "1", "2", "mid"), r
    assert not rep.duplicated(["source", "row", "col"]).any()


@pytest.mark.skipif(not PAPERS.is_dir(), reason="the papers' text is not beside this checkout")
def test_dq_numbers_are_copied_from_the_paper():
    """Each row's numbers, in the paper's column order, are the numbers of one line of the paper's text."""
    lines = [re.findall(r"\d+(?:\.\d+)?", ln) for ln in (PAPERS / "001_a32f48bed3229085.txt").read_text().splitlines()]
    rep = reported()
    dq = rep[rep.paper == "dq"]
    for (source, label), g in dq.groupby(["source", "row"], sort=False):
        seq = list(g.value)
        assert any(any(nums[k:k + len(seq)] == seq for k in range(len(nums))) for nums in lines), (source, label, seq)
    assert dq.groupby("source").size().to_dict() == {
        "DQ Table 1": 48, "DQ Table 2": 114, "DQ Table 3": 152, "DQ Table 4": 4, "DQ Table 5 (appendix)": 9,
        "DQ Table 6 (appendix)": 6}
    t1 = dq[dq.source == "DQ Table 1"]  # DESIGN.md's excerpt of Table 1
    assert t1[(t1.row == "Vanilla, adv.") & (t1.col == "1")].value.item() == "9.0"
    assert t1[(t1.row == "DQ (1e-3), clean") & (t1.col == "Full Prec.")].value.item() == "95.9"


def test_the_gap_is_given_only_under_the_papers_protocol():
    tables = {"table1": table1_long("0.03137254901960784")}
    same = build(tables, PAPER_CFG)
    r = row(same, "DQ Table 1", "Vanilla, adv.", "Full Prec.")
    assert r.qrobust_value == 42.0 and r.n_seeds == 2 and r.paper_value == 39.3
    assert r.same_protocol == "yes" and r.gap == pytest.approx(42.0 - 39.3)
    assert r.paper_protocol == "cifar10, wide_resnet depth=28 widen_factor=10, full precision, eps 8/255"
    clean = row(same, "DQ Table 1", "Vanilla, clean", "Full Prec.")
    assert clean.qrobust_value == 96.0 and "eps" not in clean.qrobust_protocol
    other = build({"table1": table1_long("0.1")}, TINY_CFG)
    r = row(other, "DQ Table 1", "Vanilla, adv.", "Full Prec.")
    assert r.qrobust_value == 42.0 and r.same_protocol == "no" and pd.isna(r.gap)
    assert r.qrobust_protocol == "mnist5k, small_cnn width=16, full precision, eps 0.1"
    # the paper's eps but another eps here: no gap either
    assert row(build({"table1": table1_long("0.1")}, PAPER_CFG), "DQ Table 1", "Vanilla, adv.", "1").same_protocol != "yes"


def test_cells_not_built_say_so():
    df = build({"table1": table1_long("0.1")}, TINY_CFG)
    assert len(df) == len(reported())
    assert row(df, "DQ Table 1", "Vanilla, adv.", "2").qrobust_protocol.startswith("table1 lacks this cell")
    assert row(df, "DQ Table 3", "Normal", "Clean").qrobust_protocol == "table2 not built"
    assert df[df.source == "DQ Table 3"].qrobust_value.isna().all()


def test_eps_rank_picks_the_papers_column():
    df = build({"table2": table2_long()}, PAPER_CFG)
    for k, eps in enumerate(("2/255", "8/255", "16/255")):
        r = row(df, "DQ Table 3", "Normal", f"FGSM eps {eps}")
        assert r.qrobust_value == 70.0 - 10 * k and r.same_protocol == "yes", r
    assert row(df, "DQ Table 3", "Normal", "Clean").qrobust_value == 96.0


def test_the_bit_width_is_part_of_the_protocol_and_an_unstated_eps_never_matches():
    """DQ's Tables 2-3 compare the full-precision model with DQ at bit=1: a +DQ cell measured at 4 bits is another
    protocol. An eps the paper's text does not state (its appendix tables) matches no eps of ours."""
    one = row(build({"table2": table2_long("1")}, PAPER_CFG), "DQ Table 3", "Normal + DQ", "Clean")
    four = row(build({"table2": table2_long("4")}, PAPER_CFG), "DQ Table 3", "Normal + DQ", "Clean")
    assert one.same_protocol == "yes" and four.same_protocol == "no" and pd.isna(four.gap)
    assert "1-bit" in one.paper_protocol and "4-bit" in four.qrobust_protocol
    long = pd.DataFrame([{"adv": "pgd", "act": "relu6", "act_bits": "", "seed": "0", "attack": a, "eps": e,
                          "blackbox": "False", "acc": v} for a, e, v in (("clean", "0.0", "80"), ("pgd", "0.0313", "50"))])
    cfg = {"data": {"dataset": "cifar10"}, "model": {"name": "resnet18", "kwargs": {}}}
    r = row(build({"table4": long}, cfg), "DQ Table 5 (appendix)", "Full-Precision", "White-Box Acc.")
    assert r.qrobust_value == 50.0 and r.same_protocol == "no" and "eps not stated" in r.paper_protocol
    assert row(build({"table4": long}, cfg), "DQ Table 5 (appendix)", "Full-Precision", "Clean Acc.").same_protocol == "yes"


def test_an_ambiguous_selection_is_an_error(monkeypatch):
    long = pd.concat([table1_long("0.1"), table1_long("0.1")])
    with pytest.raises(ValueError, match="ambiguous"):
        build({"table1": long}, TINY_CFG)
    with pytest.raises(ValueError, match="column=value"):
        parse_select("method vanilla")
    monkeypatch.setattr(scorecard, "PAPERS_DIR", Path("/nonexistent"))
    assert build({}, TINY_CFG).empty
