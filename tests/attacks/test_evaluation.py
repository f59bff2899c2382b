"""evaluate() and robust_accuracy(): robust means correct clean AND attacked; every batch its own seed."""
import torch
import torch.nn as nn

import qrobust.evaluation.attack as ev_attack
import qrobust.evaluation.robust as ev_robust
from qrobust.attacks import create_attack
from qrobust.attacks._linf import derive_seed


class _Brightness(nn.Module):
    """Class 1 if the mean pixel is above 1/2, class 0 otherwise."""

    def forward(self, x):
        m = x.flatten(1).mean(1, keepdim=True)
        return torch.cat([0.5 - m, m - 0.5], 1)


class _Cheat:
    """An 'attack' that moves every image to one the model classifies as its label."""

    def __init__(self, *a, **kw):
        pass

    def __call__(self, x, y):
        return torch.where(y.view(-1, 1, 1, 1) == 1, torch.ones_like(x), torch.zeros_like(x))


def _data(n=8):
    x = torch.zeros(n, 1, 4, 4, dtype=torch.uint8)
    x[: n // 2] = 255  # bright: class 1
    y = torch.tensor([1, 1, 0, 0, 0, 0, 1, 1])[:n]  # 2 bright wrong, 2 dark wrong: clean accuracy 50 %
    return x, y


def test_evaluate_counts_an_example_robust_only_if_it_was_correct_clean(monkeypatch):
    x, y = _data()
    monkeypatch.setattr(ev_attack, "create_attack", lambda *a, **kw: _Cheat())
    res = ev_attack.evaluate(_Brightness(), x, y, {"name": "cheat"}, torch.device("cpu"), batch_size=3,
                             progress=False)
    assert res["clean_acc"] == 50.0
    assert res["adv_acc"] == 50.0  # the cheat fixes the 4 misclassified images: they still count as wrong
    assert set(res) == {"n", "clean_acc", "adv_acc", "attack", "images", "correct"} and res["n"] == 8
    # per image, by its index in the test split: the same images right clean and attacked
    assert res["images"] == "0-7" and res["correct"] == {"clean": "11001100", "adv": "11001100"}


def test_robust_accuracy_counts_an_example_robust_only_if_it_was_correct_clean(monkeypatch):
    x, y = _data()
    monkeypatch.setattr(ev_robust, "create_attack", lambda *a, **kw: _Cheat())
    res = ev_robust.robust_accuracy(_Brightness(), x, y, attacks=["fgsm"], blackbox=["fgsm"], eps=[0.1],
                                    attack_kwargs={}, substitute=_Brightness(), device="cpu", batch_size=3,
                                    progress=False)
    assert res["clean_acc"] == 50.0
    assert [r["acc"] for r in res["results"]] == [50.0, 50.0]
    assert res["clean_correct"] == "11001100" and [r["correct"] for r in res["results"]] == ["11001100"] * 2


def _spy(monkeypatch, module):
    """Wrap module.create_attack: record every attack's seed and output."""
    calls = []

    def make(name, model, **kw):
        atk = create_attack(name, model, **kw)

        def run(x, y):
            out = atk(x, y)
            calls.append((kw["seed"], x, out))
            return out

        return run

    monkeypatch.setattr(module, "create_attack", make)
    return calls


def test_evaluate_gives_every_batch_its_own_seed(monkeypatch):
    calls = _spy(monkeypatch, ev_attack)
    x = torch.full((6, 1, 4, 4), 128, dtype=torch.uint8)  # identical images in every batch
    y = torch.zeros(6, dtype=torch.long)
    ev_attack.evaluate(_Brightness(), x, y, {"name": "random", "eps": 0.1}, torch.device("cpu"), batch_size=2,
                       seed=4, progress=False)
    assert [c[0] for c in calls] == [derive_seed(4, b) for b in range(3)]
    assert torch.equal(calls[0][1], calls[1][1])  # the same clean batch ...
    noise = [c[2] - c[1] for c in calls]
    assert not torch.equal(noise[0], noise[1]) and not torch.equal(noise[1], noise[2])  # ... other noise


def test_robust_accuracy_gives_every_cell_and_batch_its_own_seed(monkeypatch):
    calls = _spy(monkeypatch, ev_robust)
    x = torch.full((4, 1, 4, 4), 128, dtype=torch.uint8)
    y = torch.zeros(4, dtype=torch.long)
    ev_robust.robust_accuracy(_Brightness(), x, y, attacks=["random"], blackbox=[], eps=[0.05, 0.1],
                              attack_kwargs={}, substitute=None, device="cpu", seed=1, batch_size=2, progress=False)
    # batch by batch, cell by cell
    assert [c[0] for c in calls] == [derive_seed(1, k, b) for b in range(2) for k in range(2)]
    assert len({c[0] for c in calls}) == 4
    assert torch.equal(calls[0][1], calls[2][1])
    assert not torch.equal(calls[0][2], calls[2][2])  # cell 0, batches 0 and 1: identical images, other noise
    # another run seed: no seed in common (seed * 1000 + 7k + offset repeated across seeds)
    calls.clear()
    ev_robust.robust_accuracy(_Brightness(), x, y, attacks=["random"], blackbox=[], eps=[0.05, 0.1],
                              attack_kwargs={}, substitute=None, device="cpu", seed=2, batch_size=2, progress=False)
    assert not {c[0] for c in calls} & {derive_seed(1, k, b) for b in range(2) for k in range(2)}


def test_attack_images_attack_the_seeds_own_sample_and_count_clean_over_all():
    from qrobust.evaluation import images

    g = torch.Generator().manual_seed(0)
    x = torch.randint(100, 156, (40, 1, 4, 4), generator=g, dtype=torch.uint8)  # near the boundary: noise flips some
    y = (x.float().flatten(1).mean(1) > 127.5).long()
    y[::5] = 1 - y[::5]  # some wrong clean, more in the second half
    y[21:25] = 1 - y[21:25]
    kw = dict(attacks=["random", "fgsm"], blackbox=[], eps=[0.05, 0.2], attack_kwargs={}, substitute=None,
              device="cpu", batch_size=16, progress=False)
    part = ev_robust.robust_accuracy(_Brightness(), x, y, attack_images=20, seed=3, **kw)
    idx = torch.from_numpy(images.sample(40, 20, 3))
    alone = ev_robust.robust_accuracy(_Brightness(), x[idx], y[idx], seed=3, **kw)
    full = ev_robust.robust_accuracy(_Brightness(), x, y, seed=3, **kw)
    assert part["n"] == 40 and part["n_attacked"] == 20 and full["n_attacked"] == 40
    assert part["images"] == images.encode(idx.numpy()) and part["clean_images"] == "0-39"
    assert part["clean_acc"] == full["clean_acc"]
    assert part["results"] == alone["results"]  # the same images, seeds and counts as attacking the sample alone
    other = ev_robust.robust_accuracy(_Brightness(), x, y, attack_images=20, seed=4, **kw)
    assert other["images"] != part["images"]  # another seed, another sample
    assert ev_robust.robust_accuracy(_Brightness(), x, y, attack_images=500, seed=3, **kw)["results"] == full["results"]


def test_attack_images_must_be_positive():
    import pytest

    x, y = _data()
    with pytest.raises(ValueError, match="attacked images must be a positive integer"):
        ev_robust.robust_accuracy(_Brightness(), x, y, attacks=["fgsm"], blackbox=[], eps=[0.1], attack_kwargs={},
                                  substitute=None, device="cpu", attack_images=0, progress=False)
