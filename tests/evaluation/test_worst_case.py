"""Worst-case accuracy over an attack ensemble (evaluation/worst_case.py): per-example worst case,
gradient paths, transfer sources, `paths: best`, seeds, validation."""
import copy

import pytest
import torch
from _toy_models import ToyNet, toy_data, train_toy

from qrobust.evaluation.worst_case import unbits, unfooled, worst_case

EPS = 0.15
ALL_PATHS = ["ste", "bpda", "surrogate", "float"]
ENSEMBLE = [{"attack": "fgsm"}, {"attack": "pgd", "steps": 10},
            {"attack": "square", "n_queries": 50, "p_init": 0.8},
            {"attack": "transfer", "sources": ["surrogate", "float", "substitute"], "inner": "pgd", "steps": 10}]


def _run(model, x, y, ensemble=ENSEMBLE, **kw):
    args = dict(eps=EPS, ensemble=ensemble, paths=ALL_PATHS, seed=0, batch_size=40)
    args.update(kw)
    return worst_case(model, x, y, **args)


def _acc(res):
    return {m["name"]: m["acc"] for m in res["members"]}


def test_ste_attacks_see_no_gradient_on_the_masked_model_and_bpda_does(masked_net, images):
    x, y = images
    res = _run(masked_net, x, y)
    acc = _acc(res)
    assert res["clean_acc"] >= 90.0
    assert acc["fgsm@ste"] == res["clean_acc"]  # sign(0) = 0: FGSM returns the clean image
    assert acc["pgd@ste"] >= res["clean_acc"] - 10.0  # only its random start moves the image
    assert acc["pgd@bpda"] <= acc["pgd@ste"] - 30.0
    assert {m["name"]: m["kind"] for m in res["members"]} == {
        "fgsm@ste": "white", "fgsm@bpda": "white", "fgsm@surrogate": "black", "fgsm@float": "black",
        "pgd@ste": "white", "pgd@bpda": "white", "pgd@surrogate": "black", "pgd@float": "black",
        "square": "black", "transfer:surrogate": "black", "transfer:float": "black"}
    assert res["skipped"] == [{"name": "transfer:substitute", "reason": "no substitute model given"}]
    alone = [m for m in res["members"] if not m["pruned"]]
    assert [m["name"] for m in res["members"] if m["pruned"]] == ["square", "transfer:surrogate", "transfer:float"]
    assert res["best"] == min(alone, key=lambda m: m["acc"])["name"] and res["autoattack"] is None
    pgd = next(m for m in res["members"] if m["name"] == "pgd@ste")
    assert pgd["kwargs"] == {"steps": 10, "alpha": 2.5 * EPS / 10} and pgd["attack"] == "pgd" and pgd["path"] == "ste"
    tr = next(m for m in res["members"] if m["name"] == "transfer:float")
    assert tr["kwargs"] == {"inner": "pgd", "steps": 10, "alpha": 2.5 * EPS / 10} and tr["source"] == "float"


def _check_worst(res):
    n = res["n"]
    strings = res["correct"]
    assert set(strings) == {"clean"} | {m["name"] for m in res["members"]}
    assert all(len(s) == n for s in strings.values()) and set(strings["clean"]) <= {"0", "1"}
    clean = unbits(strings["clean"])
    all_ok = clean.clone()
    for m in res["members"]:
        s = strings[m["name"]]
        ok = unbits(s)
        assert not (ok & ~clean).any()  # correct under an attack implies correct clean
        attacked = torch.tensor([c != "-" for c in s])
        if m["pruned"]:  # it attacked exactly the images still robust before it
            assert m["acc"] is None and torch.equal(attacked, all_ok)
            assert m["n_attacked"] == attacked.sum().item() and m["fooled"] == s.count("0")
        else:
            assert set(s) <= {"0", "1"} and m["acc"] == pytest.approx(100.0 * ok.sum().item() / n)
            assert res["worst_acc"] <= m["acc"]
        all_ok &= unfooled(s)
    assert res["clean_acc"] == pytest.approx(100.0 * clean.sum().item() / n)
    assert res["worst_acc"] == pytest.approx(100.0 * all_ok.sum().item() / n)


def _perturbed(float_net, g, quantized: bool):
    """float_net's weights plus noise from `g`; quantized: in a ToyNet with a 3-bit grid (STE intact)."""
    net = copy.deepcopy(float_net)
    if quantized:
        net = ToyNet(qmax=7, scale=0.7)
        net.load_state_dict(float_net.state_dict())
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    return net


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_worst_acc_is_the_per_example_worst_case(float_net, seed):
    g = torch.Generator().manual_seed(seed)
    net = _perturbed(float_net, g, quantized=seed == 2)  # seed 2: a quantized twin, STE gradient intact
    x, y = toy_data(37, 10 + seed)
    eps = float(torch.empty(1).uniform_(0.05, 0.15, generator=g))
    ensemble = [{"attack": "fgsm", "paths": ["ste"]}, {"attack": "pgd", "steps": 5, "paths": ["ste", "bpda"]},
                {"attack": "random"}, {"attack": "square", "n_queries": 20, "p_init": 0.8},
                {"attack": "transfer", "sources": ["surrogate", "substitute"], "inner": "fgsm"}]
    res = _run(net.eval(), x, y, ensemble=ensemble, eps=eps, seed=seed, batch_size=16, substitute=float_net)
    assert [m["name"] for m in res["members"]] == ["fgsm@ste", "pgd@ste", "pgd@bpda", "random", "square",
                                                   "transfer:surrogate", "transfer:substitute"]
    assert res["skipped"] == [] and res["n"] == 37 and res["n_classes"] == 10 and res["eps"] == eps
    _check_worst(res)


def test_same_seed_same_result_and_the_seed_matters(masked_net, images):
    x, y = images
    ens = [{"attack": "pgd", "steps": 5, "paths": ["bpda"]}, {"attack": "square", "n_queries": 30, "p_init": 0.8}]

    def strip(res):
        return {**res, "members": [{k: v for k, v in m.items() if k != "seconds"} for m in res["members"]]}

    a, b = (strip(_run(masked_net, x, y, ensemble=ens, eps=0.1)) for _ in range(2))
    assert a == b
    c = strip(_run(masked_net, x, y, ensemble=ens, eps=0.1, seed=5))
    assert c["correct"] != a["correct"]


def test_best_runs_on_the_path_that_did_best_so_far(masked_net, images):
    x, y = images
    ens = [{"attack": "pgd", "steps": 5, "paths": ["ste", "bpda"]}, {"attack": "fgsm", "paths": "best"}]
    res = _run(masked_net, x, y, ensemble=ens)
    assert [m["name"] for m in res["members"]] == ["pgd@ste", "pgd@bpda", "fgsm@bpda"]
    # a float model: every path gives the same gradient; ties go to the first path in `paths` order
    res = _run(ToyNet().eval(), x, y, ensemble=[{"attack": "fgsm", "paths": ["bpda", "ste"]},
                                                {"attack": "pgd", "steps": 2, "paths": "best"}],
               paths=["ste", "bpda"])
    assert [m["name"] for m in res["members"]] == ["fgsm@bpda", "fgsm@ste", "pgd@ste"]


def test_the_substitute_source_crafts_on_the_substitute(masked_net, float_net, images):
    x, y = images
    ens = [{"attack": "transfer", "sources": ["substitute", "float"], "inner": "fgsm", "prune": False}]
    res = _run(masked_net, x, y, ensemble=ens, substitute=float_net)
    acc = _acc(res)
    # the masked net's float twin is float_net: crafting on it or through the float path is the same FGSM
    assert acc["transfer:substitute"] == acc["transfer:float"] < res["clean_acc"]
    assert res["correct"]["transfer:substitute"] == res["correct"]["transfer:float"]
    sub = next(m for m in res["members"] if m["source"] == "substitute")
    assert sub["path"] is None and sub["kind"] == "black"


def test_the_same_attack_twice_on_a_path_gets_a_numbered_name(float_net, images):
    x, y = images
    res = _run(float_net, x[:20], y[:20], ensemble=[{"attack": "pgd", "steps": 2, "paths": ["ste"]},
                                                    {"attack": "pgd", "steps": 4, "paths": ["ste"]}])
    assert [m["name"] for m in res["members"]] == ["pgd@ste", "pgd@ste#2"]
    _check_worst(res)


@pytest.mark.parametrize("ensemble, paths, message", [
    ([{"attack": "pgd", "paths": ["ste", "nope"]}], ALL_PATHS, "unknown gradient path 'nope'; allowed: ste, bpda, surrogate, float"),
    ([{"attack": "pgd"}], ["ste", "smooth"], "unknown gradient path 'smooth'; allowed: ste, bpda, surrogate, float"),
    ([{"attack": "transfer", "sources": ["float", "teacher"]}], ALL_PATHS,
     "unknown transfer source 'teacher'; allowed: surrogate, float, substitute"),
    ([{"attack": "fgsm", "paths": "best"}, {"attack": "pgd"}], ALL_PATHS, "paths 'best' needs a gradient attack earlier"),
    ([{"attack": "square"}, {"attack": "fgsm", "paths": "best"}], ALL_PATHS, "ensemble[1] (fgsm): paths 'best' needs"),
    ([{"attack": "no_such_attack"}], ALL_PATHS, "unknown attack 'no_such_attack'; allowed: "),
    ([{"attack": "transfer", "inner": "transfer"}], ALL_PATHS, "inner attack cannot be 'transfer'"),
    ([{"attack": "square", "paths": ["ste"]}], ALL_PATHS, "gradient-free attack runs once and takes no paths"),
    ([{"attack": "pgd", "eps": 0.5}], ALL_PATHS, "eps cannot be set per member"),
    ([{"attack": "pgd", "sources": ["float"]}], ALL_PATHS, "'sources' belongs to transfer members only"),
    ([], ALL_PATHS, "worst_case.ensemble is empty"),
    ([{"attack": "pgd", "n_queries": 5}], ALL_PATHS, "pgd takes no argument 'n_queries'; its arguments: "),
    ([{"attack": "transfer", "sources": ["float"], "inner": "fgsm", "steps": 3}], ALL_PATHS,
     "fgsm takes no argument 'steps'; its arguments: none"),
    ([{"attack": "apgd_ce", "restarts": 0}], ALL_PATHS, "ensemble[0] (apgd_ce): apgd-ce: restarts must be a whole number"),
    ([{"attack": "transfer", "sources": ["float"], "restarts": 0}], ALL_PATHS, "ensemble[0] (transfer): restarts must be >= 1"),
])
def test_a_bad_ensemble_is_refused_up_front_in_one_line(float_net, ensemble, paths, message):
    x, y = toy_data(4, 0)
    with pytest.raises(ValueError) as e:
        worst_case(float_net, x, y, eps=0.1, ensemble=ensemble, paths=paths)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_autoattack_member_records_its_flags(float_net, images):
    from qrobust.attacks import ATTACKS

    if "autoattack" not in ATTACKS:
        pytest.skip("the autoattack entry is not registered yet")
    x, y = images
    ens = [{"attack": "fgsm", "paths": ["ste"]},
           {"attack": "autoattack", "version": "custom", "attacks": ["apgd-ce"], "paths": "best"}]
    res = _run(float_net, x[:10], y[:10], ensemble=ens)
    assert res["autoattack"]["member"] == "autoattack@ste"
    assert res["autoattack"]["acc"] == _acc(res)["autoattack@ste"]
    assert isinstance(res["autoattack"]["flags"], list) and all(isinstance(f, str) for f in res["autoattack"]["flags"])
    _check_worst(res)


def test_a_masked_model_trained_here_is_masked_everywhere_but_bpda():
    """Sanity of the toy: training the masked twin directly cannot move fc1 (zero STE gradient)."""
    torch.manual_seed(0)
    net = ToyNet(qmax=15, scale=0.3, ste_grad=0.0)
    w0 = net.fc1.weight.detach().clone()
    train_toy(net, steps=5)
    assert torch.equal(net.fc1.weight, w0)


def test_paths_of_one_entry_share_their_draws(float_net, masked_net, images):
    """One entry's members differ only in the gradient: without quantizers, every path is the same attack."""
    x, y = images
    ens = [{"attack": "pgd", "steps": 3, "restarts": 2}, {"attack": "fgsm"}]
    res = _run(float_net, x, y, ensemble=ens, paths=["ste", "bpda"])
    assert res["correct"]["pgd@ste"] == res["correct"]["pgd@bpda"]
    assert res["correct"]["fgsm@ste"] == res["correct"]["fgsm@bpda"]
    # with a quantizer the gradients, hence the results, differ
    res = _run(masked_net, x, y, ensemble=ens, paths=["ste", "bpda"])
    assert res["correct"]["pgd@ste"] != res["correct"]["pgd@bpda"]


@pytest.mark.parametrize("seed", [0, 1])
def test_pruning_leaves_the_worst_case_unchanged(float_net, seed):
    """Deterministic members (no random start): attacking only the images still robust gives the
    same per-example worst case as attacking every image, and each pruned member's bits agree with
    its unpruned run wherever it attacked."""
    net = _perturbed(float_net, torch.Generator().manual_seed(seed), quantized=True)
    x, y = toy_data(45, 20 + seed)
    ensemble = [{"attack": "fgsm", "paths": ["ste"]},
                {"attack": "pgd", "steps": 4, "random_start": False, "paths": ["bpda"]},
                {"attack": "pgd", "steps": 8, "random_start": False, "paths": "best"},
                {"attack": "transfer", "sources": ["float"], "inner": "fgsm"}]
    pruned = _run(net.eval(), x, y, ensemble=ensemble, eps=0.08, seed=seed, batch_size=16)
    full = _run(net.eval(), x, y, ensemble=[{**e, "prune": False} for e in ensemble], eps=0.08, seed=seed, batch_size=16)
    assert [m["pruned"] for m in pruned["members"]] == [False, False, True, True]
    assert not any(m["pruned"] for m in full["members"])
    assert pruned["worst_acc"] == full["worst_acc"] and pruned["correct"]["clean"] == full["correct"]["clean"]
    for m in pruned["members"]:
        a, b = pruned["correct"][m["name"]], full["correct"][m["name"]]
        assert all(c == d for c, d in zip(a, b) if c != "-"), m["name"]
    _check_worst(pruned)
    assert sum(m["n_attacked"] for m in pruned["members"]) < sum(m["n_attacked"] for m in full["members"])


def test_prune_must_be_a_boolean(float_net, images):
    x, y = images
    with pytest.raises(ValueError, match=r"ensemble\[0\] \(square\): prune must be true or false"):
        _run(float_net, x[:4], y[:4], ensemble=[{"attack": "square", "prune": "yes"}])
