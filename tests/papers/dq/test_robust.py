"""Defenses, adversarial training, robust evaluation and the table/claim builders."""
import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from qrobust.evaluation.robust import robust_accuracy, step_size
from qrobust.papers.dq.defenses import FeatureSqueeze, wrap
from qrobust.training.adversarial import AdvConfig, adversarial_loss, sample_eps


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
    assert lines[0] == "method,beta,act,act_bits,adv,defense,seed,attack,eps,blackbox,acc,masking,images,correct"
    assert "dq,0.001,relu6,4,rfgsm,none,0,random,0.05,False,89.0,,," in lines  # masking: empty off worst rows
    assert "worst" not in set(pd.read_csv(tmp_path / "t2_long.csv").attack)
    assert "Worst-case" not in (tmp_path / "t2.md").read_text()


def _worst(rec, worst, flags=(), eps=0.1, seed_ck=None):
    """The worst_case job's record of `rec`'s model (the fields the tables read)."""
    run = rec["run"]
    name = f"{run['method']}_{run['act']}_a{run['act_bits']}_{run['adv']}_s{run['seed']}"
    return {"n": 100, "eps": eps, "n_classes": 10, "clean_acc": rec["clean_acc"], "worst_acc": worst,
            "members": [{"name": "pgd@bpda", "attack": "pgd", "path": "bpda", "source": None, "kind": "white",
                         "kwargs": {}, "acc": worst, "seconds": 0.1}],
            "best": "pgd@bpda", "autoattack": None, "correct": {}, "skipped": [],
            "audit": {"checks": [{"check": f, "flagged": True, "value": 1.0, "threshold": 0.0, "detail": ""} for f in flags],
                      "flags": list(flags), "masked": bool(flags), "eps_sweep": []},
            "run": dict(run), "defense": rec["defense"], "checkpoint": f"results/checkpoints/train-0/{name}.pt",
            "seconds": {}}


def _write(tmp_path, recs, sub):
    """Each record as a JSON file under tmp_path/results/metrics/<sub>/; returns the paths."""
    d = tmp_path / "results" / "metrics" / sub
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, r in enumerate(recs):
        (d / f"{i}.json").write_text(json.dumps(r))
        paths.append(str(d / f"{i}.json"))
    return paths


T2_SETUP = ((None, "none"), (None, "fs"), ("rfgsm", "none"), ("pgd", "none"))


def test_table2_gains_a_worst_case_column_and_rows(tmp_path):
    from qrobust.papers.dq.tables234 import table2

    recs = [_record(m, adv, d, seed=s, base=90 + (m == "dq")) for adv, d in T2_SETUP for m in ("vanilla", "dq")
            for s in (0, 1)]
    # every model but the feature-squeezing DQ ones; worst case 30 + seed (vanilla) / 40 + seed (DQ)
    worst = [_worst(r, (30 if r["run"]["method"] == "vanilla" else 40) + r["run"]["seed"],
                    flags=("ste_gap",) if r["run"]["seed"] == 1 else ())
             for r in recs if not (r["defense"] == "fs" and r["run"]["method"] == "dq")]
    paths = _write(tmp_path, recs, "robust/robust-0") + _write(tmp_path, worst, "worst/worst-0")
    t, files = table2(paths, tmp_path / "t2.csv", {})
    assert list(t.columns) == ["Training Technique", "Clean", "Random", "FGSM", "R+FGSM", "PGD", "FGSM(B)", "PGD(B)",
                               "Worst-case (eps 0.1)"]
    v = t.set_index("Training Technique")["Worst-case (eps 0.1)"]
    assert v["Normal"] == 30.5 and v["Adversarial PGD + DQ"] == 40.5  # one number: the mean over seeds
    assert pd.isna(v["Feature Squeezing + DQ"])  # no worst-case record: an empty cell
    assert t.loc[0, "FGSM"] == "80/70/60"  # the attack cells stay a/b/c over the three eps
    assert "Worst-case: per-example worst case" in (tmp_path / "t2.md").read_text()
    long = pd.read_csv(tmp_path / "t2_long.csv", keep_default_na=False, na_values={"acc": [""], "act_bits": [""]})
    w = long[long.attack == "worst"]
    assert len(w) == len(worst) == 14
    assert set(w.eps) == {0.1} and not w.blackbox.any()
    row = w[(w.method == "vanilla") & (w.adv == "pgd") & (w.seed == 1)].iloc[0]
    assert (row.acc, row.masking, row.defense) == (31.0, "ste_gap", "none")
    assert set(w[w.seed == 0].masking) == {""}
    assert set(long[long.attack != "worst"].masking) == {""}


def test_a_worst_case_record_without_its_model_is_named(tmp_path):
    from qrobust.papers.dq.tables234 import build_table2

    recs = [_record("vanilla"), _record("dq")]
    stray = _worst(_record("vanilla", adv="pgd"), 30.0)
    with pytest.raises(ValueError, match=r"table2: the worst-case record of .*vanilla_relu6_a4_pgd_s0\.pt"):
        build_table2(recs, tmp_path / "t2.csv", [stray])


def test_table3_worst_case_column(tmp_path):
    from qrobust.papers.dq.tables234 import build_table3

    recs = [_record(m, act=a, bits=2, base=b) for a, b in (("relu6", 90.0), ("relu1", 80.0)) for m in ("vanilla", "dq")]
    t, _ = build_table3(recs, tmp_path / "t3.csv")
    assert list(t.columns) == ["Activation", "Method", "Bits", "Clean", "FGSM (eps 0.1)"]  # as before without worst files
    worst = [_worst(r, r["clean_acc"] - 50.0, eps=0.2) for r in recs]
    t, _ = build_table3(recs, tmp_path / "t3.csv", worst)
    assert list(t.columns) == ["Activation", "Method", "Bits", "Clean", "FGSM (eps 0.1)", "Worst-case (eps 0.2)"]
    assert t["Worst-case (eps 0.2)"].tolist() == [40.0, 40.0, 30.0, 30.0]
    long = pd.read_csv(tmp_path / "t3_long.csv")
    assert long[long.attack == "worst"].eps.tolist() == [0.2] * 4


def test_table4_worst_case_and_the_union_of_flags(tmp_path):
    from qrobust.papers.dq.tables234 import build_table4

    recs = [_record("vanilla", adv="pgd", act=act, bits=bits, seed=s) for act, bits in (("relu6", None), ("tanh", 2))
            for s in (0, 1)] + [_record("vanilla", adv="fgsm", bits=None)]
    t, _ = build_table4(recs, tmp_path / "t4.csv")
    cols = ["Training", "Model", "Attack", "Clean", "White-Box", "Black-Box", "Gradient masking"]
    assert list(t.columns) == cols
    caption = (tmp_path / "t4.md").read_text().splitlines()[0]
    assert "black-box accuracy below white-box" in caption and "above" not in caption
    flags = {(None, 0): (), (None, 1): (), (2, 0): ("ste_gap",), (2, 1): ("blackbox_not_better", "ste_gap")}
    worst = [_worst(r, 20.0 + r["run"]["seed"], flags=flags[(r["run"]["act_bits"], r["run"]["seed"])])
             for r in recs if r["run"]["adv"] == "pgd"]
    t, _ = build_table4(recs, tmp_path / "t4.csv", worst)
    assert list(t.columns) == cols + ["Worst-case", "Masking flags"]
    t = t.set_index("Model")
    assert t.loc["2-bit tanh", "Worst-case"] == 20.5
    assert t.loc["2-bit tanh", "Masking flags"] == "blackbox_not_better;ste_gap"  # the union, in the audit's order
    pgd_fp = t[(t.Training == "Adversarial PGD")].loc["full precision"]
    assert pgd_fp["Masking flags"] == "none"
    fgsm = t[t.Training == "Adversarial FGSM"].iloc[0]
    assert pd.isna(fgsm["Worst-case"]) and pd.isna(fgsm["Masking flags"])  # no worst-case record
    long = pd.read_csv(tmp_path / "t4_long.csv")
    w = long[long.attack == "worst"]
    assert sorted(w.masking.fillna("")) == ["", "", "blackbox_not_better;ste_gap", "ste_gap"]


def test_fig1_keeps_full_precision_apart_and_draws_each_cells_interval(monkeypatch, tmp_path):
    """FP is its own point (not joined to 1 bit by a line); every point has its 95 % interval as an error bar; a
    worst-case panel when the table has worst-case rows."""
    import pandas as pd
    from _records import per_image

    from qrobust.papers.dq import fig1

    rows = []
    for seed in (0, 1):
        for metric in ("clean", "adv", "worst"):
            for bits in (None, 1, 2):
                acc = 50.0 + seed + (bits or 0)
                rows.append({"method": "vanilla", "beta": 0.0, "act_bits": bits, "seed": seed, "metric": metric,
                             "value": acc, "attack": "fgsm", "eps": 0.1, "n_test": 100, "masking": None,
                             **per_image(acc, 100, seed)})
    pd.DataFrame(rows).to_csv(tmp_path / "t1_long.csv", index=False)
    figs = []
    monkeypatch.setattr(fig1, "save", lambda fig, out: figs.append(fig))
    fig1.plot(tmp_path / "t1_long.csv", tmp_path / "fig1.png")
    axes = figs[0].axes
    assert [a.get_title().split()[0] for a in axes] == ["Clean", "FGSM", "Worst-case"]
    for ax in axes:
        lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1 and ln.get_marker() == "o"]
        assert lines and all(0 not in list(ln.get_xdata()) for ln in lines)  # no line reaches the FP column
        assert [t.get_text() for t in ax.get_xticklabels()] == ["FP", "1", "2"]
        bars = [c for c in ax.containers if c.has_yerr]
        assert len(bars) == 2  # FP's bar and the quantized line's bars


def test_fig1_cuts_an_interval_at_zero_accuracy(monkeypatch, tmp_path):
    """A worst case near 0 with seeds far apart has a t interval reaching below 0 %: drawn from 0, not below."""
    import pandas as pd
    from _records import per_image

    from qrobust.papers.dq import fig1

    rows = [{"method": "vanilla", "beta": 0.0, "act_bits": bits, "seed": seed, "metric": "worst", "value": acc,
             "attack": "fgsm", "eps": 0.1, "n_test": 100, "masking": None, **per_image(acc, 100, seed)}
            for seed, acc in ((0, 1.0), (1, 9.0)) for bits in (None, 2)]
    pd.DataFrame(rows).to_csv(tmp_path / "t1_long.csv", index=False)
    figs = []
    monkeypatch.setattr(fig1, "save", lambda fig, out: figs.append(fig))
    fig1.plot(tmp_path / "t1_long.csv", tmp_path / "fig1.png")
    from qrobust.tables._base import read_long
    from qrobust.tables.intervals import ci_frame

    assert (ci_frame(read_long(tmp_path / "t1_long.csv"), ["act_bits"])["low"] < 0).all()  # the interval itself
    ax = next(a for a in figs[0].axes if a.get_title().startswith("Worst"))
    bars = [c for c in ax.containers if c.has_yerr]
    lows = [seg[:, 1].min() for c in bars for seg in c.lines[2][0].get_segments()]
    assert len(lows) == 2 and min(lows) == 0.0  # drawn from 0


def test_fig3_layer_axis_has_whole_layer_ticks(monkeypatch, tmp_path):
    import json

    from qrobust.papers.dq import figures

    models = [{"run": {"method": "vanilla", "act_bits": b}, "eps": [0.05, 0.1], "distance": [[0.1, 0.2, 0.3], [0.2, 0.4, 0.6]]}
              for b in (None, 2)]
    (tmp_path / "d.json").write_text(json.dumps({"models": models}))
    figs = []
    monkeypatch.setattr(figures, "save", lambda fig, out: figs.append(fig))
    figures.amplification(tmp_path / "d.json", tmp_path / "fig3.png")
    assert list(figs[0].axes[1].get_xticks()) == [1, 2, 3]



def test_table4_keeps_the_fgsm_and_rfgsm_trained_models_apart(tmp_path):
    """docs/papers.md once showed the same white-box, black-box and worst-case numbers for the FGSM- and the
    R+FGSM-trained float models: each row must read its own model's records (here all different)."""
    from qrobust.papers.dq.tables234 import build_table4

    recs = [_record("vanilla", adv, bits=None, base=base, drop=drop)
            for adv, base, drop in (("fgsm", 97.0, 3.0), ("rfgsm", 96.0, 5.0))]
    worst = [_worst(recs[0], 80.0), _worst(recs[1], 70.0)]
    t, _ = build_table4(recs, tmp_path / "t4.csv", worst)
    rows = t.set_index("Training")
    assert rows.loc["Adversarial FGSM", "White-Box"] == pytest.approx(97.0 - 6.0)
    assert rows.loc["Adversarial R+FGSM", "White-Box"] == pytest.approx(96.0 - 10.0)
    assert rows.loc["Adversarial FGSM", "Worst-case"] == 80.0 and rows.loc["Adversarial R+FGSM", "Worst-case"] == 70.0


def test_fgsm_and_rfgsm_adversarial_training_train_different_models(mnist_small):
    """The two trainings differ in the examples they craft, so in the weights they give (one epoch, one seed)."""
    from qrobust.models import create_model
    from qrobust.training.adversarial import AdvConfig, adversarial_loss
    from qrobust.training.loop import TrainConfig, train

    train_split, _ = mnist_small
    weights = {}
    for attack in ("fgsm", "rfgsm"):
        torch.manual_seed(0)
        m = create_model("small_cnn", num_classes=10, in_channels=1, width=4, hidden=16, mean=[0.13], std=[0.31])
        g = torch.Generator().manual_seed(0)
        train(m, train_split.x[:256], train_split.y[:256], TrainConfig(epochs=1, batch_size=64, lr=0.05, allow_chance=True),
              g, torch.device("cpu"), progress=False, extra_loss=adversarial_loss(AdvConfig(attack=attack, eps_max=0.2), g))
        weights[attack] = torch.cat([p.detach().flatten() for p in m.parameters()])
    assert not torch.equal(weights["fgsm"], weights["rfgsm"])
