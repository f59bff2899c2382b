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
TOLERANCES = dict(chance_margin=5.0, blackbox_tolerance=5.0, gap_tolerance=10.0)


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
        assert names == ["eps_reaches_chance", "iterative_beats_single_step", "more_steps_stable", "second_surrogate",
                         "saturated", "blackbox_not_better", "zero_gradient", "ste_gap"]
        for c in res["checks"]:
            assert set(c) == {"check", "flagged", "value", "threshold", "detail"}
            assert isinstance(c["flagged"], bool) and isinstance(c["detail"], str) and "\n" not in c["detail"]
            assert c["detail"].endswith(".")
        assert res["flags"] == [c["check"] for c in res["checks"] if c["flagged"]]
        assert res["masked"] == bool(res["flags"])
        assert [p["eps"] for p in res["eps_sweep"]] == [0.05, EPS, 0.3, 0.5]  # always to 0.5: chance for any model
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
        # more steps can only lower the worst case (it is added per example), never below zero; the flag is
        # McNemar's test against a replicate with other random numbers
        drop = c["more_steps_stable"]["value"]
        assert 0.0 <= drop <= wc["worst_acc"] + 1e-9
        z = float(c["more_steps_stable"]["detail"].split("McNemar z = ")[1].split(";")[0])
        assert c["more_steps_stable"]["flagged"] == (z > 1.96) and c["more_steps_stable"]["threshold"] == 1.96
        assert f"from {wc['worst_acc']:.2f}%" in c["more_steps_stable"]["detail"]
        # what the audit's attacks at eps fooled is folded into the worst case: never above the ensemble's
        folded = [ch == "1" for ch in res["robust"]]
        assert len(folded) == wc["n"] and sum(folded) <= round(wc["worst_acc"] * wc["n"] / 100)
        assert res["worst_acc_ensemble"] == pytest.approx(wc["worst_acc"])


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


SMALL = 0.02  # an eps at which most images survive FGSM


def _fake_runs(monkeypatch, fools: dict):
    """Every audit PGD run at eps fools exactly the images `fools` gives for it: "replicate" (the member's
    budget), "strong" (twice the steps and restarts), "second" (the second staircase), "<attack> x<restarts>"
    (a second draw of another member); the sweep fools all."""
    import torch

    import qrobust.evaluation.masking as masking

    def attack_correct(self, eps, path, kw, only=None, temperature=None, attack="pgd"):
        keep = self.clean if only is None else self.clean & only
        if eps != SMALL:
            return torch.zeros(len(self.y), dtype=torch.bool)
        which = f"{attack} x{kw.get('restarts', 1)}" if attack != "pgd" else (
            "second" if temperature else ("strong" if kw.get("restarts", 1) > 1 else "replicate"))
        ok = keep.clone()
        ok[list(fools[which])] = False
        return ok

    monkeypatch.setattr(masking._Runner, "attack_correct", attack_correct)


def _robust_audit(monkeypatch, float_net, images, fools, ensemble=({"attack": "fgsm"},)):
    x, y = images
    x, y = x[:100], y[:100]
    wc = worst_case(float_net, x, y, eps=SMALL, ensemble=list(ensemble), paths=["ste", "bpda"])
    robust = [i for i, ch in enumerate(wc["worst_correct"]) if ch == "1"]
    _fake_runs(monkeypatch, {k: [robust[i] for i in v] for k, v in fools.items()})
    assert len(robust) >= 30
    res = audit(float_net, x, y, wc, eps=SMALL, paths=["ste", "bpda"], sweep_eps=[SMALL], pgd={"steps": 3}, **TOLERANCES)
    return wc, res, robust


def test_more_steps_are_judged_against_new_random_numbers_not_a_fixed_count(monkeypatch, float_net, images):
    """Random numbers alone fooling 6 other images (a 6-point drop at n = 100): no flag. Twice the steps fooling
    those 6 and 12 more: flagged. The meaning does not change with the number of images."""
    _, res, robust = _robust_audit(monkeypatch, float_net, images, {"replicate": range(6), "strong": range(6, 12),
                                                                   "second": []})
    c = _checks(res)
    assert not c["more_steps_stable"]["flagged"] and c["more_steps_stable"]["value"] >= 6.0
    _, res, _ = _robust_audit(monkeypatch, float_net, images, {"replicate": range(6), "strong": range(18), "second": []})
    c = _checks(res)
    assert c["more_steps_stable"]["flagged"] and "fools 12 that a replicate" in c["more_steps_stable"]["detail"]
    # every image any of them fooled is out of the worst case
    assert all(res["robust"][i] == "0" for i in robust[:18])


def test_a_second_smooth_staircase_that_finds_more_is_flagged_and_folded(monkeypatch, float_net, images):
    wc, res, robust = _robust_audit(monkeypatch, float_net, images, {"replicate": [], "strong": [],
                                                                    "second": range(10)})
    c = _checks(res)
    assert c["second_surrogate"]["flagged"] and "second_surrogate" in res["flags"]
    assert res["robust"].count("1") == len(robust) - 10 and res["worst_acc_ensemble"] == pytest.approx(wc["worst_acc"])


@pytest.mark.parametrize("fools, share, flagged", [
    # the three added attacks fool the same 5 images: 5 points off the ensemble's worst case, but any one of
    # them added last moves nothing: saturated
    ({"replicate": range(5), "strong": range(5), "second": range(5)}, 0.0, False),
    # a second random draw alone finds 2 images that the doubled budget and the second staircase miss
    ({"replicate": range(7), "strong": range(5), "second": range(3)}, 2.0, True),
    # the doubled budget alone finds 1 more: one image of 100 is a point
    ({"replicate": range(3), "strong": range(4), "second": []}, 1.0, True),
])
def test_saturation_is_what_each_added_attack_alone_fooled(monkeypatch, float_net, images, fools, share, flagged):
    wc, res, robust = _robust_audit(monkeypatch, float_net, images, fools)
    c = _checks(res)["saturated"]
    assert c["value"] == pytest.approx(share) and c["flagged"] == flagged and c["threshold"] == 1.0
    assert ("saturated" in res["flags"]) == flagged
    together = len(set().union(*map(set, fools.values())))
    assert f"by {together:.2f}, alone by" in c["detail"]
    assert res["robust"].count("1") == len(robust) - together


def test_a_second_draw_of_apgd_counts_towards_saturation(monkeypatch, float_net, images):
    """APGD's random start: a second draw (with the member's own restarts) that alone fools 3 images is a
    3-point move of the reported worst case, and they are folded in."""
    ensemble = [{"attack": "fgsm"}, {"attack": "apgd_ce", "paths": ["bpda"], "restarts": 2}]
    with one_thread():
        wc, res, robust = _robust_audit(monkeypatch, float_net, images, {"replicate": [], "strong": [], "second": [],
                                                                        "apgd_ce x2": range(3)}, ensemble)
    c = _checks(res)["saturated"]
    assert c["flagged"] and c["value"] == 3.0 and "added last, a second draw of apgd_ce@bpda moves" in c["detail"]
    assert res["robust"].count("1") == len(robust) - 3


def test_an_autoattack_with_square_is_mixed_and_apgd_alone_runs_autoattacks_checks(float_net, images):
    from qrobust.evaluation.ensemble import plan

    kinds = {m.name(): m.kind() for m in plan([{"attack": "fgsm"}, {"attack": "autoattack", "paths": ["ste"]},
                                               {"attack": "autoattack", "version": "custom", "attacks": ["apgd-ce"],
                                                "paths": ["bpda"]}], ["ste", "bpda"])}
    assert kinds["autoattack@ste"] == "mixed" and kinds["autoattack@bpda"] == "white" and kinds["fgsm@ste"] == "white"
    x, y = images
    with one_thread():
        wc = worst_case(float_net, x[:16], y[:16], eps=EPS, ensemble=[{"attack": "fgsm"}, {"attack": "apgd_ce"}],
                        paths=["ste"])
    assert wc["autoattack"] is not None and wc["autoattack"]["member"] == "apgd_ce@ste"
    assert isinstance(wc["autoattack"]["flags"], list)
