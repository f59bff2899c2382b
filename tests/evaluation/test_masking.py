"""The gradient-masking audit (evaluation/masking.py): a float model and its deliberately masked twin
(zero STE gradient through a quantized hidden layer) are told apart."""
import pytest
from _toy_models import one_thread

from qrobust.evaluation.masking import audit
from qrobust.evaluation.worst_case import worst_case

EPS = 0.15
PATHS = ["ste", "bpda", "surrogate", "float"]
ENSEMBLE = [{"attack": "fgsm"}, {"attack": "pgd", "steps": 10},
            {"attack": "square", "n_queries": 50, "p_init": 0.8},
            {"attack": "transfer", "sources": ["surrogate", "float", "substitute"], "inner": "pgd", "steps": 10}]
TOLERANCES = dict(chance_margin=5.0, steps_tolerance=10.0, blackbox_tolerance=5.0, gap_tolerance=10.0)


def _audit(model, x, y, seed=0, **kw):
    wc = worst_case(model, x, y, eps=EPS, ensemble=ENSEMBLE, paths=PATHS, seed=seed, batch_size=50)
    args = dict(eps=EPS, paths=PATHS, seed=seed, batch_size=50, sweep_eps=[0.05, EPS, 0.3], pgd={"steps": 10},
                **TOLERANCES)
    args.update(kw)
    return wc, audit(model, x, y, wc, **args)


def _checks(res):
    return {c["check"]: c for c in res["checks"]}


@pytest.fixture(scope="module")
def audited(float_net, masked_net, images):
    x, y = images
    with one_thread():
        return {"float": _audit(float_net, x, y), "masked": _audit(masked_net, x, y)}


def test_the_audit_tells_a_float_model_from_a_masked_one(audited):
    _, fl = audited["float"]
    _, ma = audited["masked"]
    assert {"zero_gradient", "ste_gap"} <= set(ma["flags"]) and ma["masked"]
    assert not {"zero_gradient", "ste_gap"} & set(fl["flags"])
    m, f = _checks(ma), _checks(fl)
    assert m["zero_gradient"]["value"] == 100.0 and f["zero_gradient"]["value"] == 0.0
    assert m["ste_gap"]["value"] > 50.0 and f["ste_gap"]["value"] <= 10.0


def test_every_check_carries_its_numbers(audited):
    for wc, res in audited.values():
        names = [c["check"] for c in res["checks"]]
        # no AutoAttack member: its check is left out; the others all apply to this ensemble
        assert names == ["eps_reaches_chance", "iterative_beats_single_step", "more_steps_stable",
                         "blackbox_not_better", "zero_gradient", "ste_gap"]
        for c in res["checks"]:
            assert set(c) == {"check", "flagged", "value", "threshold", "detail"}
            assert isinstance(c["flagged"], bool) and isinstance(c["detail"], str) and "\n" not in c["detail"]
            assert c["detail"].endswith(".")
        assert res["flags"] == [c["check"] for c in res["checks"] if c["flagged"]]
        assert res["masked"] == bool(res["flags"])
        assert [p["eps"] for p in res["eps_sweep"]] == [0.05, EPS, 0.3]
        accs = [p["acc"] for p in res["eps_sweep"]]
        assert accs[0] >= accs[1] >= accs[2]  # a larger eps never helps the model here
        c = _checks(res)
        assert c["eps_reaches_chance"]["value"] == accs[-1] and c["eps_reaches_chance"]["threshold"] == 15.0
        assert c["ste_gap"]["threshold"] == TOLERANCES["gap_tolerance"]


def test_the_sweep_runs_on_the_best_white_box_path(audited):
    wc, res = audited["masked"]
    white = [m for m in wc["members"] if m["kind"] == "white"]
    best = min(white, key=lambda m: m["acc"])
    assert best["path"] == "bpda"
    assert {p["path"] for p in res["eps_sweep"]} == {"bpda"}
    assert res["eps_sweep"][-1]["acc"] <= 15.0  # through bpda PGD does reach chance
    wc, res = audited["float"]
    assert "eps_reaches_chance" not in res["flags"]


def test_checks_follow_their_definitions(audited):
    for wc, res in audited.values():
        acc = {m["name"]: m["acc"] for m in wc["members"] if m["acc"] is not None}  # pruned: none of its own
        c = _checks(res)
        diffs = [acc[f"pgd@{p}"] - acc[f"fgsm@{p}"] for p in PATHS]
        assert c["iterative_beats_single_step"]["value"] == max(diffs)
        assert c["iterative_beats_single_step"]["flagged"] == (max(diffs) > 0)
        ste = min(acc[n] for n in acc if n.endswith("@ste"))
        assert c["ste_gap"]["value"] == pytest.approx(ste - min(acc.values()))
        clean = [ch == "1" for ch in wc["correct"]["clean"]]
        white = [m["name"] for m in wc["members"] if m["kind"] == "white"]
        black = [m["name"] for m in wc["members"] if m["kind"] == "black"]
        fooled = {k: [ch == "0" for ch in v] for k, v in wc["correct"].items()}  # "-": not attacked (pruned)
        count = sum(clean[i] and any(fooled[b][i] for b in black) and not any(fooled[w][i] for w in white)
                    for i in range(wc["n"]))
        assert c["blackbox_not_better"]["value"] == pytest.approx(100.0 * count / wc["n"])
        # more steps can only lower the worst case (it is added per example), never below zero
        drop = c["more_steps_stable"]["value"]
        assert 0.0 <= drop <= wc["worst_acc"] + 1e-9
        assert c["more_steps_stable"]["flagged"] == (drop >= TOLERANCES["steps_tolerance"])
        assert f"from {wc['worst_acc']:.2f}%" in c["more_steps_stable"]["detail"]


def test_the_audit_is_deterministic(masked_net, images):
    x, y = images
    x, y = x[:30], y[:30]
    a = _audit(masked_net, x, y, seed=3)[1]
    b = _audit(masked_net, x, y, seed=3)[1]
    assert a == b


def test_more_steps_without_a_pgd_member_runs_the_audit_pgd_and_autoattack_flags_count(float_net, images):
    x, y = images
    x, y = x[:20], y[:20]
    wc = worst_case(float_net, x, y, eps=EPS, ensemble=[{"attack": "fgsm", "paths": ["ste"]}], paths=["ste"])
    wc["autoattack"] = {"member": "autoattack@ste", "acc": 0.0, "flags": ["there are 3 points with zero gradient!"]}
    res = audit(float_net, x, y, wc, eps=EPS, paths=["ste"], sweep_eps=[EPS], pgd={"steps": 3}, **TOLERANCES)
    c = _checks(res)
    assert c["autoattack_checks"]["flagged"] and c["autoattack_checks"]["value"] == 1
    assert "zero gradient" in c["autoattack_checks"]["detail"]
    assert "audit pgd@ste" in c["more_steps_stable"]["detail"] and "6 steps and 2 restarts" in c["more_steps_stable"]["detail"]
    # only white members, one path without pgd: these checks have nothing to compare
    assert "blackbox_not_better" not in c and "iterative_beats_single_step" not in c
    assert "autoattack_checks" in res["flags"]


def test_the_audit_refuses_other_images(float_net, images):
    x, y = images
    wc = worst_case(float_net, x[:10], y[:10], eps=EPS, ensemble=[{"attack": "fgsm"}], paths=["ste"])
    with pytest.raises(ValueError, match="audit the same images"):
        audit(float_net, x[:12], y[:12], wc, eps=EPS)
