import pytest
import torch
import torch.nn as nn
import torchattacks

from qrobust.attacks import ATTACKS, create_attack
from qrobust.attacks._linf import derive_seed
from qrobust.models import inference_layout
from qrobust.plan.scan import entry_module

EPS = 0.1

# the reference AutoAttack and its components (attacks/autoattack.py) run pyautoattack's full budgets
# (100 APGD iterations, 9 target classes, 5,000 Square queries): the registry-wide tests give them
# fewer examples, and the two slowest (tens of seconds on this CPU) are marked slow.
AUTOATTACK = {n for n in ATTACKS.names() if entry_module("attack", n) == "qrobust.attacks.autoattack"}
SLOW = {"autoattack", "fab_t"}


def _names(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


def _batch(mnist_small, n=200, name=None):
    _, test = mnist_small
    if name in AUTOATTACK:
        n = min(n, 32)
    return test.x[:n].float() / 255.0, test.y[:n]


def _acc(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.fixture(scope="module")
def substitute(mnist_small):
    """Black-box source for `transfer`: a float small_cnn trained apart from trained_small_cnn
    (width 16 vs 8, hidden 64, plain ReLU, no quantization, seed 1; ~1 s)."""
    from qrobust.models import create_model
    from qrobust.runtime.seeding import seed_everything
    from qrobust.training.loop import TrainConfig, train

    train_split, _ = mnist_small
    g = seed_everything(1)
    model = create_model("small_cnn", num_classes=10, in_channels=1, act="relu", width=16, hidden=64,
                         mean=[0.13], std=[0.31])
    train(model, train_split.x, train_split.y, TrainConfig(epochs=3, batch_size=32, lr=0.05), g,
          torch.device("cpu"), progress=False)
    return model.eval()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: on a 2-core machine shared with other jobs, two spinning OpenMP threads are
    many times slower than one. Restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _make(name, model, request, **kw):
    """create_attack for the registry-wide tests: `transfer` gets the module's substitute (trained only
    if needed) and PGD as the inner attack (DQ's PGD(B); FGSM(B) from this substitute is only ~0.1
    below noise, see the transfer tests for the default inner FGSM); `square` a test-sized budget, 200 queries,
    with p_init 0.8 (AutoAttack's value for
    MNIST/CIFAR-size images; the paper's 0.05 needs thousands of queries on 28x28 inputs)."""
    if name == "transfer":
        kw = {"substitute": request.getfixturevalue("substitute"), "inner": "pgd", **kw}
    if name == "square":
        kw = {"n_queries": 200, "p_init": 0.8, **kw}
    return create_attack(name, model, **kw)


@pytest.mark.parametrize("name", _names(ATTACKS.names()))
def test_perturbation_within_eps_ball_and_image_range(name, trained_small_cnn, mnist_small, request):
    x, y = _batch(mnist_small, name=name)
    adv = _make(name, trained_small_cnn, request, eps=EPS)(x, y)
    assert adv.shape == x.shape and adv.dtype == x.dtype
    assert (adv - x).abs().max().item() <= EPS + 1e-6
    assert adv.min().item() >= 0.0 and adv.max().item() <= 1.0


@pytest.mark.parametrize("name", _names(ATTACKS.names()))
def test_attack_is_deterministic_and_restores_mode(name, trained_small_cnn, mnist_small, request):
    x, y = _batch(mnist_small, 16 if name in AUTOATTACK else 64, name)  # AutoAttack twice: a few images do
    if name == "transfer":
        request.getfixturevalue("substitute")  # trained (seeding the global RNG) before the RNG is read, not inside
    trained_small_cnn.train()
    rng = torch.get_rng_state()
    a = _make(name, trained_small_cnn, request, eps=EPS, seed=3)(x, y)
    assert trained_small_cnn.training  # the attack ran in eval mode and put the mode back
    assert torch.equal(torch.get_rng_state(), rng)  # seeded generators (or a forked RNG): the global RNG is untouched
    trained_small_cnn.eval()
    b = _make(name, trained_small_cnn, request, eps=EPS, seed=3)(x, y)
    assert torch.equal(a, b)


# `random` is exempt: it IS random noise (test_random_is_uniform_noise checks it instead).
@pytest.mark.parametrize("name", _names([n for n in ATTACKS.names() if n != "random"]))
def test_attack_is_stronger_than_random_noise(name, trained_small_cnn, mnist_small, request):
    x, y = _batch(mnist_small, name=name)
    g = torch.Generator().manual_seed(0)
    noise = torch.clamp(x + EPS * (2 * torch.rand(x.shape, generator=g) - 1), 0, 1)
    adv = _make(name, trained_small_cnn, request, eps=EPS)(x, y)
    assert _acc(trained_small_cnn, x, y) > 0.6  # the fixture really learned something
    assert _acc(trained_small_cnn, adv, y) < _acc(trained_small_cnn, noise, y) - 0.1


def test_random_is_uniform_noise(trained_small_cnn):
    x = torch.full((64, 1, 28, 28), 0.5)  # mid-gray: no clamping to [0, 1]
    y = torch.zeros(64, dtype=torch.long)
    d = create_attack("random", trained_small_cnn, eps=EPS, seed=0)(x, y) - x
    assert abs(d.abs().mean().item() - EPS / 2) < 0.01 * EPS  # E|U(-eps, eps)| = eps/2
    assert abs(d.mean().item()) < 0.01 * EPS
    assert 0.99 * EPS < d.abs().max().item() <= EPS + 1e-6
    other = create_attack("random", trained_small_cnn, eps=EPS, seed=1)(x, y) - x
    assert not torch.equal(d, other)


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.2])
def test_fgsm_matches_torchattacks(trained_small_cnn, mnist_small, eps):
    x, y = _batch(mnist_small)
    ours = create_attack("fgsm", trained_small_cnn, eps=eps)(x, y)
    with inference_layout(trained_small_cnn):  # ours runs the model in this layout: the same arithmetic
        ref = torchattacks.FGSM(trained_small_cnn, eps=eps)(x, y)
    assert torch.allclose(ours, ref, atol=1e-6)
    assert _acc(trained_small_cnn, ours, y) == _acc(trained_small_cnn, ref, y)


def test_bim_matches_torchattacks(trained_small_cnn, mnist_small):
    x, y = _batch(mnist_small)
    atk = create_attack("bim", trained_small_cnn, eps=EPS, keep="last")  # Kurakin defaults: alpha 1/255, 29 steps
    ref = torchattacks.BIM(trained_small_cnn, eps=EPS, alpha=1 / 255, steps=0)  # steps=0: Kurakin's rule
    assert (atk.alpha, atk.steps) == (ref.alpha, ref.steps) == (1 / 255, 29)
    with inference_layout(trained_small_cnn):
        ref_adv = ref(x, y)
    assert torch.equal(atk(x, y), ref_adv)  # same min/max clipping: identical images
    # keep="best" (the default) returns per image the first iterate that fools the model, else the last one:
    # it fools every image the last iterate fools, and an image it leaves robust got the last iterate
    best = create_attack("bim", trained_small_cnn, eps=EPS)(x, y)
    with torch.no_grad():
        fooled = trained_small_cnn(ref_adv).argmax(1) != y
        best_fooled = trained_small_cnn(best).argmax(1) != y
    assert fooled.any() and bool(best_fooled[fooled].all())
    assert torch.equal(best[~best_fooled], ref_adv[~best_fooled])
    assert (best - x).abs().max() <= EPS + 1e-6


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_matches_torchattacks(trained_small_cnn, mnist_small, random_start):
    x, y = _batch(mnist_small)
    ours = create_attack("pgd", trained_small_cnn, eps=EPS, alpha=EPS / 4, steps=10, random_start=random_start,
                         seed=5, keep="last")(x, y)
    # torchattacks draws its start with empty_like(x).uniform_(-eps, eps) from the global RNG; ours makes
    # the same call on a CPU generator seeded 5, which yields the same stream as torch.manual_seed(5).
    torch.manual_seed(5)
    with inference_layout(trained_small_cnn):
        ref = torchattacks.PGD(trained_small_cnn, eps=EPS, alpha=EPS / 4, steps=10, random_start=random_start)(x, y)
    assert torch.equal(ours, ref)


def test_rfgsm_matches_torchattacks(trained_small_cnn, mnist_small):
    x, y = _batch(mnist_small)
    ours = create_attack("rfgsm", trained_small_cnn, eps=EPS, seed=7)(x, y)  # alpha = eps/2
    # torchattacks.RFGSM steps alpha (not eps - alpha) from its random point: equal to R+FGSM at alpha = eps/2;
    # its sign(randn_like(x)) comes from the global RNG, ours from a generator with the same seed.
    torch.manual_seed(7)
    with inference_layout(trained_small_cnn):
        ref = torchattacks.RFGSM(trained_small_cnn, eps=EPS, alpha=EPS / 2, steps=1)(x, y)
    assert torch.equal(ours, ref)


def test_pgd_restarts_are_at_least_as_strong_per_example(trained_small_cnn, mnist_small):
    x, y = _batch(mnist_small)
    kw = dict(eps=0.05, alpha=0.02, steps=2, seed=0)  # weak enough that some examples survive
    one = create_attack("pgd", trained_small_cnn, restarts=1, **kw)(x, y)
    two = create_attack("pgd", trained_small_cnn, restarts=2, **kw)(x, y)
    with torch.no_grad():
        fooled1 = trained_small_cnn(one).argmax(1) != y
        fooled2 = trained_small_cnn(two).argmax(1) != y
    assert 0 < fooled1.sum() < len(y)
    assert bool((fooled2 | ~fooled1).all())  # fooled with 1 restart => fooled with 2
    assert torch.equal(two[fooled1], one[fooled1])  # the first restart is kept where it already fooled
    assert fooled2.sum() > fooled1.sum()


@pytest.mark.parametrize("name", ["pgd", "bim"])
def test_keep_best_is_never_weaker_than_keep_last(trained_small_cnn, mnist_small, name):
    """alpha = eps: the iterates jump across the box and can leave the decision region again; "best" keeps
    the first iterate that fooled the model, "last" (torchattacks) the final one."""
    x, y = _batch(mnist_small)
    kw = dict(eps=EPS, alpha=EPS, steps=10, seed=0)
    best = create_attack(name, trained_small_cnn, keep="best", **kw)(x, y)
    last = create_attack(name, trained_small_cnn, keep="last", **kw)(x, y)
    with torch.no_grad():
        fooled_best = trained_small_cnn(best).argmax(1) != y
        fooled_last = trained_small_cnn(last).argmax(1) != y
    assert bool((fooled_best | ~fooled_last).all())  # per example: fooled by "last" => fooled by "best"
    assert (fooled_best & ~fooled_last).sum() >= 5  # strictly stronger here (16 for pgd, 21 for bim)
    assert torch.equal(best[~fooled_best], last[~fooled_best])  # where no iterate fools: the final one
    assert (best - x).abs().max().item() <= EPS + 1e-6 and 0.0 <= best.min() and best.max() <= 1.0


def test_keep_best_returns_a_fooling_intermediate_iterate():
    """A 1-d toy: class 1 only in a band around 0.55; from 0.5 with alpha 0.06 the iterates go 0.5, 0.56,
    0.62 (eps 0.12); only the middle one fools, and only "best" returns it."""

    class Band(nn.Module):
        def forward(self, x):
            v = x.flatten(1)[:, :1]
            inside = ((v - 0.55).abs() < 0.03).float()
            return torch.cat([1 - inside - 0.01 * v, inside], 1)  # the loss grows with v: ascent pushes v up

    x, y = torch.full((1, 1, 1, 1), 0.5), torch.zeros(1, dtype=torch.long)
    kw = dict(eps=0.12, alpha=0.06, steps=2, random_start=False)
    for name in ("pgd", "bim"):
        kw_n = {k: v for k, v in kw.items() if name == "pgd" or k != "random_start"}
        best = create_attack(name, Band(), keep="best", **kw_n)(x, y)
        last = create_attack(name, Band(), keep="last", **kw_n)(x, y)
        assert last.item() == pytest.approx(0.62) and best.item() == pytest.approx(0.56), name


def test_unknown_keep_is_rejected(trained_small_cnn):
    for name in ("pgd", "bim"):
        with pytest.raises(ValueError, match="allowed: best, last"):
            create_attack(name, trained_small_cnn, eps=EPS, keep="first")


def test_derive_seed_is_distinct_where_arithmetic_seeds_collide():
    # seed * 1000 + batch (and the like) maps (0, 1000) and (1, 0) to the same number
    pairs = [(0, 1000), (1, 0), (0, 1), (1, 0, 0), (0, 0), (0,), (2**32,), (0, 1, 0), (1, 1)]
    seeds = [derive_seed(*p) for p in pairs]
    assert len(set(seeds)) == len(seeds)
    assert derive_seed(3, 7) == derive_seed(3, 7)  # a pure function of the tuple
    assert all(isinstance(s, int) and 0 <= s < 2**32 for s in seeds)
    grid = {derive_seed(s, k, b) for s in range(4) for k in range(30) for b in range(30)}
    assert len(grid) == 4 * 30 * 30
    with pytest.raises(ValueError, match="non-negative"):
        derive_seed(-1)


class _NoGradient(nn.Module):
    """Wraps a model, counts the examples it classifies, and raises if anything backpropagates through it."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.queries = inner, 0

    def forward(self, x):
        self.queries += len(x)
        out = self.inner(x)
        if out.requires_grad:
            out.register_hook(lambda _: (_ for _ in ()).throw(AssertionError("backward through the model")))
        return out


def test_no_gradient_wrapper_catches_gradient_attacks(trained_small_cnn, mnist_small):
    x, y = _batch(mnist_small, 8)
    with pytest.raises(AssertionError, match="backward"):
        create_attack("fgsm", _NoGradient(trained_small_cnn).eval(), eps=EPS)(x, y)


def test_square_is_gradient_free_and_strong(trained_small_cnn, mnist_small):
    x, y = _batch(mnist_small)
    model = _NoGradient(trained_small_cnn).eval()  # eval: the attack restores the wrapper's mode
    adv = create_attack("square", model, eps=EPS, n_queries=400, p_init=0.8, seed=0)(x, y)
    assert model.queries <= len(y) * (400 + 1)  # the budget per example, plus one clean pass
    assert (adv - x).abs().max().item() <= EPS + 1e-6 and 0.0 <= adv.min() and adv.max() <= 1.0
    g = torch.Generator().manual_seed(0)
    noise = torch.clamp(x + EPS * (2 * torch.rand(x.shape, generator=g) - 1), 0, 1)
    assert _acc(trained_small_cnn, adv, y) < _acc(trained_small_cnn, noise, y) - 0.12  # ~0.65 vs 0.83-0.85
    with torch.no_grad():
        wrong = trained_small_cnn(x).argmax(1) != y
    assert torch.equal(adv[wrong], x[wrong])  # misclassified examples are not attacked


@pytest.mark.parametrize("inner,kw", [("fgsm", {}), ("pgd", {"steps": 5}), ("rfgsm", {})])
def test_transfer_from_the_model_itself_is_the_white_box_attack(trained_small_cnn, mnist_small, inner, kw):
    x, y = _batch(mnist_small, 64)
    white = create_attack(inner, trained_small_cnn, eps=EPS, seed=2, **kw)(x, y)
    black = create_attack("transfer", trained_small_cnn, eps=EPS, seed=2, substitute=trained_small_cnn,
                          inner=inner, **kw)(x, y)
    assert torch.equal(black, white)


class _NoGradients(nn.Module):
    """A black-box target: it answers forwards (the transfer's iterates are judged on it) but never a gradient."""

    def __init__(self, model):
        super().__init__()
        self.model, self.forwards = model, 0

    def forward(self, x):
        if torch.is_grad_enabled() and x.requires_grad:
            raise AssertionError("the black-box target's gradient was asked for")
        self.forwards += 1
        with torch.no_grad():
            return self.model(x)


def test_transfer_never_asks_the_target_for_a_gradient_and_keeps_the_first_iterate_that_fools_it(
        trained_small_cnn, mnist_small, substitute):
    x, y = _batch(mnist_small, 16)
    target = _NoGradients(trained_small_cnn).eval()
    adv = create_attack("transfer", target, eps=EPS, substitute=substitute, inner="bim")(x, y)
    assert target.forwards >= 10  # every iterate judged on the target
    on_sub = create_attack("bim", substitute, eps=EPS)(x, y)
    with torch.no_grad():
        fools = trained_small_cnn(adv).argmax(1) != y
        fools_sub = trained_small_cnn(on_sub).argmax(1) != y
    assert bool((fools | ~fools_sub).all()) and fools.sum() >= fools_sub.sum()  # never weaker than the final iterate
    same = create_attack("transfer", substitute, eps=EPS, substitute=substitute, inner="bim")(x, y)
    assert torch.equal(same, on_sub)  # substitute = target: the white-box attack itself
    with pytest.raises(TypeError, match="substitute"):
        create_attack("transfer", trained_small_cnn, eps=EPS)
    with pytest.raises(ValueError, match="transfer"):
        create_attack("transfer", trained_small_cnn, eps=EPS, substitute=substitute, inner="transfer")


@pytest.mark.parametrize("name", ["bim", "pgd"])
def test_kurakin_defaults(trained_small_cnn, name):
    atk = create_attack(name, trained_small_cnn, eps=8 / 255)
    assert atk.steps == 10 and atk.alpha == 1 / 255
    assert create_attack(name, trained_small_cnn, eps=0.0).steps == 1  # at least one step
    assert create_attack(name, trained_small_cnn, eps=8 / 255, alpha=0.01, steps=3).steps == 3


def test_gradient_attacks_work_under_no_grad(trained_small_cnn, mnist_small):
    x, y = _batch(mnist_small, 32)
    a = create_attack("pgd", trained_small_cnn, eps=EPS, steps=3)(x, y)
    with torch.no_grad():
        b = create_attack("pgd", trained_small_cnn, eps=EPS, steps=3)(x, y)
    assert torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ATTACKS.names())
def test_attacks_run_on_cuda(name, trained_small_cnn, mnist_small, request):
    import copy

    model = copy.deepcopy(trained_small_cnn).cuda()
    x, y = (t.cuda() for t in _batch(mnist_small, 64))
    kw = {"substitute": copy.deepcopy(request.getfixturevalue("substitute")).cuda()} if name == "transfer" else {}
    a = create_attack(name, model, eps=EPS, seed=1, **kw)(x, y)
    b = create_attack(name, model, eps=EPS, seed=1, **kw)(x, y)
    assert a.is_cuda and torch.equal(a, b)
    assert (a - x).abs().max().item() <= EPS + 1e-6 and 0.0 <= a.min() and a.max() <= 1.0


def test_gradient_flows_through_quantized_activations(trained_small_cnn, mnist_small):
    x, y = _batch(mnist_small, 32)
    x = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(trained_small_cnn(x), y).backward()
    assert x.grad.abs().sum().item() > 0  # STE: no gradient masking by the rounding


@pytest.mark.parametrize("eps", [-0.1, 1.5])
def test_bad_eps_is_rejected(trained_small_cnn, eps):
    with pytest.raises(ValueError, match="eps"):
        create_attack("fgsm", trained_small_cnn, eps=eps)
