"""The worst case judged on the real model at every iterate, the smooth-surrogate family, and what each member
adds (evaluation/worst_case.py, attacks/_linf.py)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from qrobust.evaluation.worst_case import worst_case
from qrobust.quant.fake_quant import current_path, fake_quantize


class _TwoFaced(nn.Module):
    """The real model (the ste forward) calls class 1 only a band of mean brightness, 0.30 to 0.45; its float
    twin (the float path) is monotone in the brightness. PGD on the twin walks from 0.2 through the band and
    out of it: its last iterate fools the real model no more, two of its iterates did."""

    def forward(self, x):
        m = x.flatten(1).mean(1, keepdim=True)
        if current_path()[0] == "float":
            return torch.cat([0.5 - m, m - 0.5], 1) * 10
        inside = ((m > 0.30) & (m < 0.45)).float()
        return torch.cat([1 - 2 * inside, 2 * inside - 1], 1)


def test_an_iterate_that_fools_the_real_model_counts_though_the_attack_walks_past_it():
    x = torch.full((4, 1, 4, 4), round(0.2 * 255), dtype=torch.uint8)
    y = torch.zeros(4, dtype=torch.long)
    model = _TwoFaced()
    member = {"attack": "pgd", "paths": ["float"], "steps": 10, "alpha": 0.05, "random_start": False}
    res = worst_case(model, x, y, eps=0.4, ensemble=[member], paths=["float"])
    assert res["clean_acc"] == 100.0 and res["members"][0]["acc"] == 0.0 and res["worst_acc"] == 0.0
    # the final iterate alone (keep: last) passes the band: the real model is right there again
    last = worst_case(model, x, y, eps=0.4, ensemble=[{**member, "keep": "last"}], paths=["float"])
    assert last["worst_acc"] == 100.0
    assert res["broken_by"] == [0, 0, 0, 0] and res["members"][0]["first_broken"] == 4


class _Obfuscated(nn.Module):
    """A float MLP's hidden layer, scaled so its values sit within 0.05 of an integer, behind a quantizer whose
    straight-through gradient is zero: useless for STE attacks, and for BPDA through the tanh staircase at a
    small temperature (whose gradient is exactly zero in float32 that far from a rounding threshold)."""

    def __init__(self, net, scale: float):
        super().__init__()
        self.net, self.scale = net, scale

    def forward(self, x):
        u = torch.relu(self.net.fc1(x.flatten(1))) / self.scale
        v = u + (torch.round(u) - u).detach() * 0.9  # within 0.05 of the nearest integer, identity gradient
        q = fake_quantize(v, 1.0, 0, 0, 255, ste_grad=0.0)
        return self.net.fc2(q * self.scale)


@pytest.fixture(scope="module")
def obfuscated(float_net, images):
    x, _ = images
    with torch.no_grad():
        hmax = torch.relu(float_net.fc1(x.float().flatten(1) / 255)).max().item()
    return _Obfuscated(float_net, hmax / 60).eval()


def test_the_surrogate_family_finds_what_the_ste_and_one_temperature_miss(obfuscated, images):
    x, y = images
    x, y = x[:40], y[:40]
    base = [{"attack": "pgd", "steps": 10}]
    one = worst_case(obfuscated, x, y, eps=0.15, ensemble=base, paths=["ste", "bpda"], temperature=0.02)
    assert one["clean_acc"] > 80.0
    assert one["worst_acc"] >= one["clean_acc"] - 5.0  # STE and BPDA at 0.02 see zero gradients
    family = base + [{"attack": "pgd", "paths": ["bpda"], "staircases": [1.0, "sine"], "steps": 10, "prune": True}]
    res = worst_case(obfuscated, x, y, eps=0.15, ensemble=family, paths=["ste", "bpda"], temperature=0.02)
    names = [m["name"] for m in res["members"]]
    assert names == ["pgd@ste", "pgd@bpda", "pgd@bpda:t1", "pgd@bpda:sine"]
    assert res["worst_acc"] <= one["worst_acc"] - 30.0
    assert sum(m["first_broken"] for m in res["members"][2:]) > 10  # the family broke what the others could not
    assert sum(m["first_broken"] for m in res["members"]) == sum(b >= 0 for b in res["broken_by"])


def test_staircases_belong_to_smooth_paths_only():
    from qrobust.evaluation.ensemble import plan

    with pytest.raises(ValueError, match="staircases apply to bpda, surrogate only"):
        plan([{"attack": "pgd", "paths": ["ste"], "staircases": [1.0]}], ["ste"])
    with pytest.raises(ValueError, match="neither a temperature > 0 nor sine"):
        plan([{"attack": "pgd", "paths": ["bpda"], "staircases": ["cosine"]}], ["bpda"])
    members = plan([{"attack": "transfer", "sources": ["surrogate"], "staircases": [0.5, "sine"], "inner": "pgd"}], ["ste"])
    assert [m.name() for m in members] == ["transfer:surrogate:t0.5", "transfer:surrogate:sine"]
