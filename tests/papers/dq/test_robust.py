"""Defenses, adversarial training, robust evaluation and the table/claim builders of issue 5."""
import copy

import numpy as np
import pandas as pd
import pytest
import torch

from qrobust.training.adversarial import AdvConfig, adversarial_loss, sample_eps
from qrobust.papers.dq.defenses import FeatureSqueeze, wrap
from qrobust.evaluation.robust import robust_accuracy, step_size


def test_feature_squeezing_reduces_depth_then_median_filters():
    fs = FeatureSqueeze(torch.nn.Identity(), bits=5, median=1)
    x = torch.rand(2, 1, 8, 8)
    y = fs(x)
    assert torch.allclose(y * 31, torch.round(y * 31), atol=1e-5)  # on the 5-bit grid
    assert (y - x).abs().max() <= 0.5 / 31 + 1e-6
    # a 2x2 median removes a single bright pixel in a dark image
    img = torch.zeros(1, 1, 6, 6)
    img[0, 0, 2, 3] = 1.0
    assert FeatureSqueeze(torch.nn.Identity(), bits=5, median=2)(img).max() == 0
    assert FeatureSqueeze(torch.nn.Identity(), median=2)(torch.rand(3, 3, 7, 9)).shape == (3, 3, 7, 9)


def test_feature_squeezing_passes_gradients_to_the_input():
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    FeatureSqueeze(torch.nn.Identity(), bits=5, median=2)(x).sum().backward()
    assert x.grad.abs().sum() > 0  # BPDA through the rounding: no masked gradient


def test_unknown_defense_is_named():
    with pytest.raises(ValueError, match="unknown defense 'jpeg'; allowed: none, fs"):
        wrap(torch.nn.Identity(), "jpeg")


def test_training_eps_follows_a_truncated_normal():
    cfg = AdvConfig(eps_max=0.2)
    g = torch.Generator().manual_seed(0)
    e = np.array([sample_eps(cfg, g) for _ in range(4000)])
    assert e.min() >= 0 and e.max() <= 0.2
    # |N(0, 0.1)| truncated at 2 sigma: mean 0.1 * sqrt(2/pi) * (1 - exp(-2)) / erf(sqrt 2) ~= 0.0724
    assert e.mean() == pytest.approx(0.0724, abs=0.004)


def test_bad_adversarial_training_config_is_refused():
    with pytest.raises(ValueError, match="use one of fgsm, rfgsm, pgd"):
        AdvConfig(attack="square")


def test_adversarial_loss_is_the_weighted_ce_on_attacked_inputs(trained_small_cnn, mnist_small):
    _, test = mnist_small
    x, y = test.x[:32].float() / 255, test.y[:32]
    model = copy.deepcopy(trained_small_cnn).train()
    extra = adversarial_loss(AdvConfig(attack="fgsm", eps_max=0.3, weight=0.5), torch.Generator().manual_seed(0))
    loss = extra(model, x, y)
    clean = torch.nn.functional.cross_entropy(model(x), y)
    assert model.training  # crafted in eval mode, returned to training mode
    assert loss.item() > 0.5 * clean.item()  # adversarial examples cost more than clean ones


def test_madry_step_size_when_only_steps_are_given():
    assert step_size("pgd", 0.2, {"steps": 10}) == {"steps": 10, "alpha": pytest.approx(0.05)}
    assert step_size("pgd", 0.2, {"steps": 10, "alpha": 0.01}) == {"steps": 10, "alpha": 0.01}
    assert step_size("fgsm", 0.2, {}) == {}


def test_robust_accuracy_records_every_cell(trained_small_cnn, mnist_small):
    _, test = mnist_small
    sub = copy.deepcopy(trained_small_cnn)
    res = robust_accuracy(trained_small_cnn, test.x[:64], test.y[:64], attacks=["fgsm", "pgd"], blackbox=["fgsm"],
                          eps=[0.05, 0.2], attack_kwargs={"pgd": {"steps": 3}}, substitute=sub, device="cpu",
                          progress=False)
    cells = {(c["attack"], c["eps"], c["blackbox"]): c["acc"] for c in res["results"]}
    assert len(cells) == 6
    assert cells[("fgsm", 0.2, False)] <= cells[("fgsm", 0.05, False)] <= res["clean_acc"]
    # the substitute is the model itself here, so transfer equals white-box FGSM
    assert cells[("fgsm", 0.2, True)] == cells[("fgsm", 0.2, False)]


# -- tables and claims from synthetic records ---------------------------------------------------

def _record(method, adv=None, defense="none", act="relu6", bits=4, seed=0, base=90.0, drop=10.0):
    res = []
    for a, k in (("random", 0.2), ("fgsm", 1.0), ("rfgsm", 0.8), ("pgd", 1.5)):
        for i, e in enumerate((0.05, 0.1, 0.2)):
            res.append({"attack": a, "eps": e, "blackbox": False, "acc": base - k * drop * (i + 1)})
    for a in ("fgsm", "pgd"):
        for i, e in enumerate((0.05, 0.1, 0.2)):
            res.append({"attack": a, "eps": e, "blackbox": True, "acc": base - 0.5 * drop * (i + 1)})
    return {"run": {"method": method, "beta": 0.0 if method == "vanilla" else 1e-3, "act_bits": bits, "act": act,
                    "adv": adv, "seed": seed}, "defense": defense, "clean_acc": base, "results": res}


def test_table2_layout(tmp_path):
    from qrobust.papers.dq.tables234 import build_table2

    recs = [_record(m, adv, d, base=90 + (m == "dq")) for adv, d in ((None, "none"), (None, "fs"), ("rfgsm", "none"), ("pgd", "none"))
            for m in ("vanilla", "dq")]
    t, files = build_table2(recs, tmp_path / "t2.csv")
    assert t["Training Technique"].tolist() == ["Normal", "Normal + DQ", "Feature Squeezing", "Feature Squeezing + DQ",
                                                "Adversarial R+FGSM", "Adversarial R+FGSM + DQ", "Adversarial PGD",
                                                "Adversarial PGD + DQ"]
    assert list(t.columns) == ["Training Technique", "Clean", "Random", "FGSM", "R+FGSM", "PGD", "FGSM(B)", "PGD(B)"]
    assert t.loc[0, "FGSM"] == "80/70/60"
    assert all(f.exists() for f in files)
    # the long CSV is raw: config names, integer bits, every number as computed
    lines = (tmp_path / "t2_long.csv").read_text().splitlines()
    assert lines[0] == "method,beta,act,act_bits,adv,defense,seed,attack,eps,blackbox,acc"
    assert "dq,0.001,relu6,4,rfgsm,none,0,random,0.05,False,89.0" in lines


def test_claims_follow_the_numbers(tmp_path):
    """Each verdict is computed from the long CSV: editing a number flips it."""
    from qrobust.claims import evaluate_claims
    from qrobust.papers.dq.tables234 import build_table2

    recs = [_record(m, adv, d, base=90 + 2 * (m == "dq")) for adv, d in ((None, "none"), (None, "fs"), ("rfgsm", "none"),
                                                                           ("pgd", "none")) for m in ("vanilla", "dq")]
    build_table2(recs, tmp_path / "t2.csv")
    long = pd.read_csv(tmp_path / "t2_long.csv")
    row = evaluate_claims({"table2": long}).set_index("id").loc["dq-helps-every-defense"]
    assert row.verdict == "holds"
    long.loc[long.method == "dq", "acc"] -= 5  # DQ now hurts everywhere
    row = evaluate_claims({"table2": long}).set_index("id").loc["dq-helps-every-defense"]
    assert row.verdict == "fails"
    # a claim whose table is absent says so instead of guessing
    assert evaluate_claims({"table2": long}).set_index("id").loc["impulse-glass-worst-brightness-least"].verdict == "not run"
