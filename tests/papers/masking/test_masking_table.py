"""The gradient-masking audit's table and figure (papers/masking) from fabricated worst-case records."""
import json
from pathlib import Path

import pandas as pd
import pytest

from qrobust.papers.masking.table import LONG_COLUMNS, build, from_files


def _rec(run_name, worst, *, ckey="train-abc", seed=0, defense="none", flags=(), ste=None, sweep=(0.1, 0.2, 0.4),
         n_classes=10, clean=90.0):
    """A worst_case job record (evaluation/worst_case.py + masking.py) with the fields the audit table reads."""
    ste = worst + 20.0 if ste is None else ste
    members = [{"name": "fgsm@ste", "attack": "fgsm", "path": "ste", "source": None, "kind": "white", "kwargs": {},
                "acc": ste + 5.0, "seconds": 0.1, "first_broken": 10},
               {"name": "pgd@ste", "attack": "pgd", "path": "ste", "source": None, "kind": "white",
                "kwargs": {"steps": 10}, "acc": ste, "seconds": 0.2, "first_broken": 5},
               {"name": "pgd@bpda", "attack": "pgd", "path": "bpda", "source": None, "kind": "white",
                "kwargs": {"steps": 10}, "acc": worst + 1.0, "seconds": 0.2, "first_broken": int(clean - worst) - 15},
               {"name": "transfer:float", "attack": "transfer", "path": None, "source": "float", "kind": "black",
                "kwargs": {}, "acc": worst + 3.0, "seconds": 0.3, "first_broken": 0}]
    names = ["autoattack_checks", "eps_reaches_chance", "iterative_beats_single_step", "more_steps_stable",
             "blackbox_not_better", "zero_gradient", "ste_gap"]
    checks = [{"check": c, "flagged": c in flags, "value": float(i) + 0.5, "threshold": 1.0, "detail": f"{c} says so."}
              for i, c in enumerate(names) if c != "autoattack_checks"]
    return {"n": 100, "eps": 0.1, "n_classes": n_classes, "clean_acc": clean, "worst_acc": worst, "members": members,
            "best": "pgd@bpda", "autoattack": None, "correct": {"clean": "1" * 100},
            "skipped": [{"name": "transfer:substitute", "reason": "no substitute model given"}],
            "audit": {"checks": checks, "flags": [c for c in names if c in flags], "masked": bool(flags),
                      "eps_sweep": [{"eps": e, "path": "bpda", "acc": max(0.0, worst - 100 * (e - 0.1))} for e in sweep]},
            "run": {"method": "vanilla", "beta": 0.0, "act": "relu6", "act_bits": 2, "adv": None, "seed": seed},
            "defense": defense, "checkpoint": f"results/checkpoints/{ckey}/{run_name}.pt",
            "seconds": {"ensemble": 1.0, "audit": 1.0}}


def _write(tmp_path, recs):
    paths = []
    for r in recs:
        ckey, run = r["checkpoint"].split("/")[-2], r["checkpoint"].split("/")[-1][:-3]
        p = tmp_path / "results" / "metrics" / "worst" / "worst-xyz" / ckey / f"{run}_{r['defense']}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(r))
        paths.append(str(p))
    return paths


def test_one_row_per_model_with_values_and_flags(tmp_path):
    recs = [_rec("vanilla_a2_s0", 40.0, flags=("ste_gap", "zero_gradient")), _rec("dq_a2_s0", 55.0, ste=60.0),
            _rec("dq_a2_s0", 50.0, defense="fs")]
    t, files = from_files(_write(tmp_path, recs), tmp_path / "masking.csv", {})
    assert [Path(f).name for f in files] == ["masking.csv", "masking_long.csv", "masking.md", "masking.tex", "masking.json"]
    assert all(Path(f).exists() for f in files)
    # sorted by model, then defense; checks in the audit's order; no column for a check no model ran
    assert t.Model.tolist() == ["train-abc/dq_a2_s0", "train-abc/dq_a2_s0", "train-abc/vanilla_a2_s0"]
    assert t.Defense.tolist() == ["fs", "none", "none"]
    assert list(t.columns) == ["Model", "Defense", "Clean", "Worst-case", "Best attack", "STE attack",
                               "eps_reaches_chance", "iterative_beats_single_step", "more_steps_stable",
                               "blackbox_not_better", "zero_gradient", "ste_gap", "Flags"]
    v = t.set_index(["Model", "Defense"])
    assert v.loc[("train-abc/vanilla_a2_s0", "none"), "Worst-case"] == 40.0
    assert v.loc[("train-abc/vanilla_a2_s0", "none"), "STE attack"] == 60.0  # the lowest @ste member (pgd@ste)
    assert v.loc[("train-abc/dq_a2_s0", "none"), "STE attack"] == 60.0
    assert v.loc[("train-abc/dq_a2_s0", "none"), "Best attack"] == "pgd@bpda"
    assert v.loc[("train-abc/vanilla_a2_s0", "none"), "ste_gap"] == 6.5
    assert v.loc[("train-abc/vanilla_a2_s0", "none"), "Flags"] == "zero_gradient;ste_gap"  # the audit's order
    assert v.loc[("train-abc/dq_a2_s0", "none"), "Flags"] == ""
    csv = pd.read_csv(tmp_path / "masking.csv", keep_default_na=False)
    assert csv.Flags.tolist() == ["", "", "zero_gradient;ste_gap"]
    md = (tmp_path / "masking.md").read_text()
    assert md.startswith("Gradient-masking audit") and "flagged" in md and "eps 0.1" in md
    rows = json.loads((tmp_path / "masking.json").read_text())
    assert rows["table"] == "masking" and len(rows["rows"]) == 3


def test_a_model_passed_twice_counts_once(tmp_path):
    a = _rec("vanilla_a2_s0", 40.0)
    paths = _write(tmp_path, [a])
    t, _ = from_files(paths + paths, tmp_path / "m.csv", {})  # Tables 2 and 4 both list the model
    assert len(t) == 1
    t, _ = build([a, _rec("vanilla_a2_s0", 40.0, ckey="train-other")], tmp_path / "m.csv")
    assert t.Model.tolist() == ["train-abc/vanilla_a2_s0", "train-other/vanilla_a2_s0"]  # another checkpoint: another model


def test_the_long_csv_has_every_member_check_and_sweep_point(tmp_path):
    recs = [_rec("vanilla_a2_s1", 40.0, seed=1, flags=("eps_reaches_chance",)), _rec("dq_a2_s0", 55.0)]
    build(recs, tmp_path / "masking.csv")
    lines = (tmp_path / "masking_long.csv").read_text().splitlines()
    assert lines[0] == ",".join(LONG_COLUMNS) == "ckey,run,defense,seed,kind,name,eps,value,threshold,flagged,detail"
    long = pd.read_csv(tmp_path / "masking_long.csv", keep_default_na=False, na_values=[""])
    m = long[long.run == "vanilla_a2_s1"]
    assert (m.ckey == "train-abc").all() and (m.seed == 1).all() and (m.defense == "none").all()
    # per model: 2 summary rows, 4 members, 6 checks, 3 sweep points
    assert m.kind.value_counts().to_dict() == {"summary": 2, "member": 4, "check": 6, "sweep": 3}
    s = m[m.kind == "summary"].set_index("name")
    assert (s.loc["clean", "eps"], s.loc["clean", "value"], s.loc["clean", "threshold"]) == (0.0, 90.0, 10.0)
    assert s.loc["clean", "detail"] == "n=100;n_classes=10"
    assert (s.loc["worst", "eps"], s.loc["worst", "value"], s.loc["worst", "threshold"]) == (0.1, 40.0, 10.0)
    assert s.loc["worst", "flagged"] in (True, "True")
    assert s.loc["worst", "detail"] == ("best=pgd@bpda;flags=eps_reaches_chance;"
                                        "skipped=transfer:substitute (no substitute model given)")
    mem = m[m.kind == "member"].set_index("name")
    assert mem.value.to_dict() == {"fgsm@ste": 65.0, "pgd@ste": 60.0, "pgd@bpda": 41.0, "transfer:float": 43.0}
    assert mem.loc["pgd@bpda", "detail"] == "kind=white;attack=pgd;path=bpda;first=35"
    assert mem.loc["transfer:float", "detail"] == "kind=black;attack=transfer;source=float;first=0"
    assert mem.threshold.isna().all() and mem.flagged.isna().all()
    chk = m[m.kind == "check"].set_index("name")
    assert chk.loc["eps_reaches_chance", "flagged"] in (True, "True")
    assert chk.loc["ste_gap", "flagged"] in (False, "False")
    assert (chk.loc["ste_gap", "value"], chk.loc["ste_gap", "threshold"]) == (6.5, 1.0)
    assert chk.loc["ste_gap", "detail"] == "ste_gap says so."
    sw = m[m.kind == "sweep"]
    assert sw.name.tolist() == ["bpda"] * 3 and sw.eps.tolist() == [0.1, 0.2, 0.4]
    assert sw.value.tolist() == pytest.approx([40.0, 30.0, 10.0])
    # raw: seed as an integer, numbers unrounded
    assert "train-abc,vanilla_a2_s1,none,1,summary,worst,0.1,40.0,10.0,True," in "\n".join(lines)


def test_a_file_that_is_no_worst_case_record_is_named(tmp_path):
    p = tmp_path / "robust.json"
    p.write_text(json.dumps({"run": {}, "clean_acc": 90.0, "results": []}))
    with pytest.raises(ValueError, match="robust.json is no worst-case record"):
        from_files([str(p)], tmp_path / "m.csv", {})


def test_figure_is_written_and_deterministic(tmp_path):
    from qrobust.papers.masking.figure import masking_figure

    recs = [_rec("vanilla_a2_s0", 40.0, flags=("ste_gap",)), _rec("dq_a2_s0", 55.0), _rec("dq_a2_s0", 50.0, defense="fs")]
    build(recs, tmp_path / "masking.csv")
    long = tmp_path / "masking_long.csv"
    out = [tmp_path / "a" / "masking.png", tmp_path / "b" / "masking.png"]
    for o in out:
        o.parent.mkdir()
        masking_figure(long, o)
    for suffix in (".png", ".pdf"):
        a, b = (o.with_suffix(suffix).read_bytes() for o in out)
        assert len(a) > 1000 and a == b


def test_each_image_is_wrong_broken_by_one_member_or_robust_averaged_over_seeds(tmp_path):
    from qrobust.papers.masking.figure import check_counts, flagged_models, outcomes, read

    recs = [_rec("vanilla_a2_s0", 40.0, flags=("ste_gap",)), _rec("vanilla_a2_s1", 50.0, seed=1),
            _rec("dq_a2_s0", 55.0), _rec("dq_a2_s0", 50.0, defense="fs", flags=("ste_gap", "zero_gradient"))]
    build(recs, tmp_path / "masking.csv")
    df = read(tmp_path / "masking_long.csv")
    share = outcomes(df)
    # one row per model, its seeds averaged; every member a column (none empty), shares adding to 100 %
    assert sorted(share.index) == ["dq_a2", "dq_a2 [fs]", "vanilla_a2"]
    assert list(share.columns) == ["wrong clean", "fgsm@ste", "pgd@ste", "pgd@bpda", "transfer:float", "robust"]
    assert share.sum(axis=1).tolist() == pytest.approx([100.0] * 3)
    assert share.loc["vanilla_a2", "robust"] == 45.0 and share.loc["vanilla_a2", "pgd@bpda"] == pytest.approx(30.0)
    flagged = flagged_models(df)
    assert flagged.to_dict() == {"vanilla_a2": 1, "dq_a2 [fs]": 1}
    counts = check_counts(df, flagged.index)
    assert list(counts.columns) == ["ste_gap", "zero_gradient"]  # only the checks that fired
    assert counts.loc["dq_a2 [fs]"].tolist() == [1, 1] and counts.loc["vanilla_a2"].tolist() == [1, 0]


def test_the_curves_are_drawn_for_flagged_models_only_from_clean_to_chance(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from qrobust.papers.masking import figure

    build([_rec("vanilla_a2_s0", 40.0, flags=("eps_reaches_chance",)), _rec("dq_a2_s0", 55.0, n_classes=4)],
          tmp_path / "masking.csv")
    drawn = []
    monkeypatch.setattr(figure, "save", lambda fig, path: drawn.append(fig))
    monkeypatch.setattr(plt, "close", lambda fig=None: None)
    figure.masking_figure(tmp_path / "masking_long.csv", tmp_path / "m.png")
    ax = drawn[0].axes[1]  # (b)
    lines = {ln.get_label(): ln.get_xydata().tolist() for ln in ax.lines if ln.get_linestyle() != "--"}
    assert list(lines) == ["vanilla_a2 (1/1 seeds)"]  # the unflagged model has no curve
    # clean at eps 0, the worst case at the evaluation eps, then the sweep
    xy = lines["vanilla_a2 (1/1 seeds)"]
    assert [x for x, _ in xy] == [0.0, 0.1, 0.2, 0.4] and [y for _, y in xy] == pytest.approx([90.0, 40.0, 30.0, 10.0])
    chance = sorted(ln.get_xydata()[0][1] for ln in ax.lines if ln.get_linestyle() == "--")
    assert chance == [10.0, 25.0]  # 100 / n_classes of each model
