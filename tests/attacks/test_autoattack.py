"""The reference AutoAttack as qrobust attacks (attacks/autoattack.py): parity with pyautoattack run
directly, the ensemble's worst case, its own checks captured as flags, gradient paths."""
import logging
import time

import pyautoattack
import pytest
import torch
import torch.nn as nn

from qrobust.attacks import create_attack
from qrobust.quant.fake_quant import current_path

EPS = 0.1
SEED = 3


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny():
    """A 2-layer MLP on 40 random 1x8x8 images whose labels come from a random linear teacher, trained
    a few steps: most, not all, examples are classified correctly."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 8, 8, generator=g)
    teacher = torch.randn(64, 10, generator=g)
    y = ((x.flatten(1) - 0.5) @ teacher).argmax(1)  # 9 of the 10 classes occur
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    for _ in range(40):  # 85% correct
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    acc = _acc(model, x, y)
    assert 0.5 < acc < 1.0, acc
    return model, x, y


def _fooled(model, x, y):
    with torch.no_grad():
        return model(x).argmax(1) != y


def _acc(model, x, y):
    return (~_fooled(model, x, y)).sum().item() / len(y)  # count / n, as robust_by_attack computes it


def _reference(fn):
    """Run pyautoattack directly, leaving the global RNG (which it seeds) as it was."""
    with torch.random.fork_rng(devices=[]):
        return fn()


def test_apgd_components_match_pyautoattack_run_directly(tiny):
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted

    model, x, y = tiny
    # AutoAttack's standard version: APGD with 100 iterations, 1 restart, rho .75, 1 EOT iteration
    kw = dict(n_iter=100, norm="Linf", n_restarts=1, eps=EPS, seed=SEED, eot_iter=1, rho=.75, device=x.device)
    cases = {"apgd_ce": lambda: APGDAttack(model, loss="ce", **kw),
             "apgd_dlr": lambda: APGDAttack(model, loss="dlr", **kw),
             "apgd_t": lambda: APGDAttack_targeted(model, n_target_classes=9, **kw)}
    for name, make in cases.items():
        atk = create_attack(name, model, eps=EPS, seed=SEED)
        ours = atk(x, y)
        ref = _reference(lambda: make().perturb(x, y))
        assert torch.equal(ours, ref), name
        assert atk.robust_by_attack == {"clean": _acc(model, x, y), atk.attacks[0]: _acc(model, ref, y)}
    # and the same as AutoAttack's own custom version restricted to APGD-CE with the standard restarts

    def custom():
        aa = pyautoattack.AutoAttack(model, eps=EPS, seed=SEED, version="custom", attacks=["apgd-ce"], device=x.device)
        aa.apgd.n_restarts = 1  # custom keeps the constructor's 5; standard sets 1
        return aa.run_standard_evaluation(x, y, batch_size=len(x))[0]

    assert torch.equal(create_attack("apgd_ce", model, eps=EPS, seed=SEED)(x, y), _reference(custom))


def test_fab_t_matches_pyautoattack_where_it_fools(tiny):
    from pyautoattack.fab_pt import FABAttack_PT

    model, x, y = tiny
    ours = create_attack("fab_t", model, eps=EPS, seed=SEED)(x, y)

    def ref():
        fab = FABAttack_PT(model, n_restarts=1, n_iter=100, eps=EPS, seed=SEED, norm="Linf", verbose=False,
                           device=x.device, n_target_classes=9)
        fab.targeted = True
        return fab.perturb(x, y)

    ref = _reference(ref)
    fooled = _fooled(model, ref, y)
    assert torch.equal(_fooled(model, ours, y), fooled)
    assert torch.equal(ours[fooled], ref[fooled])
    assert torch.equal(ours[~fooled], x[~fooled])  # AutoAttack returns the clean image where it fails


def test_autoattack_is_the_worst_case_of_its_components_and_runs_under_bpda(tiny, caplog, capsys):
    model, x, y = tiny
    paths = []

    class Recorder(nn.Module):  # the paths every model call of AutoAttack ran under
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            paths.append(current_path())
            return self.inner(x)

    rec = Recorder().eval()
    handlers = list(logging.getLogger("auto-attack").handlers)
    rng = torch.get_rng_state()
    atk = create_attack("autoattack", rec, eps=EPS, seed=SEED, path="bpda", temperature=0.5)
    t = time.perf_counter()
    adv = atk(x, y)
    elapsed = time.perf_counter() - t
    print(f"autoattack standard on {len(x)} examples: {elapsed:.1f} s")
    assert paths and set(paths) == {("bpda", 0.5)}
    assert torch.equal(torch.get_rng_state(), rng)  # pyautoattack seeds the global RNG: forked and restored
    assert logging.getLogger("auto-attack").handlers == handlers and logging.getLogger("auto-attack").propagate
    assert not [r for r in caplog.records if r.name == "auto-attack"]  # nothing reached the root logger
    assert atk.attacks == ("apgd-ce", "apgd-t", "fab-t", "square")
    assert (adv - x).abs().max().item() <= EPS + 1e-6 and 0.0 <= adv.min() and adv.max() <= 1.0

    acc = _acc(model, adv, y)
    by = atk.robust_by_attack
    assert list(by) == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert by["clean"] == _acc(model, x, y) and by["square"] == acc
    assert all(a >= b for a, b in zip(list(by.values()), list(by.values())[1:]))
    fooled = _fooled(model, adv, y)
    assert torch.equal(adv[~fooled], x[~fooled])

    alone = {n: create_attack(n, model, eps=EPS, seed=SEED)(x, y) for n in ("apgd_ce", "apgd_t", "fab_t")}
    assert by["apgd-ce"] == _acc(model, alone["apgd_ce"], y)  # the first attack runs exactly as alone
    assert bool((fooled | ~_fooled(model, alone["apgd_ce"], y)).all())  # per example
    # the later attacks run only on what is left (other random starts), so per example this is AutoAttack's
    # worst case over its own runs; on this model it is at least as strong as each component alone
    for n, a in alone.items():
        assert acc <= _acc(model, a, y), n
    assert acc < _acc(model, x, y)
    assert atk.flags == []
    assert capsys.readouterr().err == ""


def test_autoattack_is_deterministic_with_its_seed(tiny):
    model, x, y = tiny
    kw = dict(eps=EPS, version="custom", attacks=["apgd-ce", "apgd-dlr"])
    a = create_attack("autoattack", model, seed=1, **kw)(x, y)
    assert torch.equal(a, create_attack("autoattack", model, seed=1, **kw)(x, y))
    assert not torch.equal(a, create_attack("autoattack", model, seed=2, **kw)(x, y))


class _Rounded(nn.Module):
    """The model on a rounded input: torch.round has a zero gradient everywhere, so gradient attacks
    see none (gradient masking) while the model still classifies."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(torch.round(x * 4) / 4)


@pytest.mark.parametrize("name", ["apgd_dlr", "apgd_t"])  # APGD checks the gradient on its DLR losses
def test_zero_gradients_are_flagged(tiny, caplog, name):
    model, x, y = tiny
    atk = create_attack(name, _Rounded(model).eval(), eps=EPS)
    atk(x, y)
    n = (~_fooled(model, torch.round(x * 4) / 4, y)).sum().item()
    assert f"there are {n} points with zero gradient!" in " ".join(atk.flags), atk.flags  # every point attacked
    assert not [r for r in caplog.records if r.name == "auto-attack"]
    atk(x[:0], y[:0])  # flags belong to a call: reset each time
    assert atk.flags == [] and atk.robust_by_attack == {}


def test_a_plain_model_has_no_zero_gradient_flag(tiny):
    # apgd_t; apgd_dlr flags 1 point of this tiny model (a near tie of two logits, pyautoattack's own verdict)
    model, x, y = tiny
    plain = create_attack("apgd_t", model, eps=EPS)
    plain(x, y)
    assert not any("zero gradient" in f for f in plain.flags), plain.flags


def test_probability_outputs_are_flagged(tiny):
    model, x, y = tiny
    atk = create_attack("apgd_ce", nn.Sequential(model, nn.Softmax(1)).eval(), eps=EPS)
    atk(x, y)
    assert any("probability distribution" in f for f in atk.flags), atk.flags


def test_apgd_ce_runs_through_the_bpda_path_of_a_quantized_model(tiny):
    from qrobust.quant import QuantAct

    _, x, y = tiny
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), QuantAct("relu6", 2), nn.Linear(32, 10)).eval()
    with torch.no_grad():
        y = model(x).argmax(1)  # all correct: every example is attacked
    ste = create_attack("apgd_ce", model, eps=EPS, path="ste")(x, y)
    bpda = create_attack("apgd_ce", model, eps=EPS, path="bpda")(x, y)
    assert not torch.equal(ste, bpda)  # other gradients, other iterates
    assert (bpda - x).abs().max().item() <= EPS + 1e-6


@pytest.mark.parametrize("kw,words", [
    ({"version": "strong"}, "unknown AutoAttack version 'strong'; allowed: standard, plus, rand, custom"),
    ({"version": "custom"}, "needs attacks"),
    ({"version": "custom", "attacks": ["apgd-ce", "pgd"]}, "unknown AutoAttack attack(s) 'pgd'; allowed: apgd-ce"),
    ({"attacks": ["apgd-ce"]}, "needs version='custom'"),
    ({"version": "custom", "attacks": ["square", "square"]}, "must be distinct"),
])
def test_bad_versions_and_attacks_are_rejected(tiny, kw, words):
    with pytest.raises(ValueError) as e:
        create_attack("autoattack", tiny[0], eps=EPS, **kw)
    assert words in str(e.value)


def test_components_are_registered_with_the_standard_settings(tiny):
    for name, component in (("apgd_ce", "apgd-ce"), ("apgd_dlr", "apgd-dlr"), ("apgd_t", "apgd-t"),
                            ("fab_t", "fab-t")):
        atk = create_attack(name, tiny[0], eps=EPS)
        assert atk.attacks == (component,) and atk.version == "standard" and not atk.gradient_free


def test_apgd_restarts_match_pyautoattack_and_only_add_to_one_restart(tiny):
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted

    model, x, y = tiny
    eps = EPS / 4  # small enough that one restart leaves images a second can still take
    kw = dict(n_iter=100, norm="Linf", n_restarts=3, eps=eps, seed=SEED, eot_iter=1, rho=.75, device=x.device)
    for name, make in {"apgd_ce": lambda: APGDAttack(model, loss="ce", **kw),
                       "apgd_t": lambda: APGDAttack_targeted(model, n_target_classes=9, **kw)}.items():
        three = create_attack(name, model, eps=eps, seed=SEED, restarts=3)(x, y)
        assert torch.equal(three, _reference(lambda: make().perturb(x, y))), name
        one = create_attack(name, model, eps=eps, seed=SEED)(x, y)
        # the first restart is the 1-restart run; later ones attack only what it left
        assert bool((_fooled(model, three, y) | ~_fooled(model, one, y)).all()), name


@pytest.mark.parametrize("name, restarts, words", [
    ("apgd_ce", 0, "restarts must be a whole number >= 1"),
    ("apgd_ce", 1.5, "restarts must be a whole number >= 1"),
    ("fab_t", 2, "restarts are APGD's"),
])
def test_bad_restarts_are_refused(tiny, name, restarts, words):
    with pytest.raises(ValueError, match=words):
        create_attack(name, tiny[0], eps=EPS, restarts=restarts)
