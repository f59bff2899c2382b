"""AutoAttack: the reference ensemble of parameter-free attacks (pyautoattack), and its components.

Paper: Croce, Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020 (APGD-CE, APGD-T/APGD-DLR; FAB: Croce, Hein, ICML 2020; Square:
Andriushchenko et al., ECCV 2020). Code: the reference implementation, pyautoattack 0.2.0
(`pyautoattack.AutoAttack`), run as it is: nothing here re-implements or retunes an attack.
Distance measure: Linf.
Entries (all in this file):
  autoattack  AutoAttack itself. Arguments: eps (maximum perturbation, default 8/255); seed (default 0,
              pyautoattack's seed of every attack); version (default "standard": APGD-CE, APGD-T with 9
              target classes, FAB-T with 9, Square with 5,000 queries, APGD at 100 iterations; "plus":
              the six attacks with more restarts; "rand": APGD-CE and APGD-DLR with 20 EOT iterations, for
              randomized defenses; "custom": the attacks named by `attacks`, a list of pyautoattack
              names apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square, with pyautoattack's custom defaults).
  apgd_ce, apgd_dlr, apgd_t, fab_t
              one attack of the standard version alone, with the standard version's settings (AutoAttack
              built with version="standard", then `attacks_to_run` set to that one attack). Arguments:
              eps, seed; restarts (APGD's random restarts, apgd_* only, default 1 as in the standard
              version; the first restart is the 1-restart run, each later one attacks what it left).
Each call builds `AutoAttack(model, eps=eps, seed=seed, version=version, device=x.device, norm="Linf")`
and runs `run_standard_evaluation(x, y, batch_size=len(x))`. The result is AutoAttack's own: per
example the image of the first of its attacks (in order) that fools the model, each attack running
only on the examples no earlier one fooled (so a later attack draws other random starts than it would
alone); the clean image where none does or where the clean image is already misclassified. As
every model call happens inside `Attack.__call__`, the gradient path applies (create_attack's path=,
e.g. "bpda"); AutoAttack then also judges "fooled" with the forward of that path (the real model for
ste and bpda, the smooth copy or float twin for surrogate and float).
After a call:
  flags            AutoAttack's own warnings of this call (list of str, [] if none): check_randomized,
                   check_range_output (probabilities instead of logits), check_dynamic, check_n_classes,
                   check_square_sr (Square beat the gradient attacks), and APGD's check_zero_gradients
                   ("there are k points with zero gradient!", checked by APGD on its DLR losses only:
                   apgd-dlr, apgd-t): the signs of gradient masking AutoAttack looks for. pyautoattack
                   logs them on the logger "auto-attack"; during a call that logger goes only to this
                   attack (no propagation, no other handler; restored after), so nothing is printed.
  robust_by_attack {"clean": accuracy, "<attack>": robust accuracy after it, ...} as fractions of the
                   batch, in AutoAttack's order (counted from its debug log; attacks skipped because no
                   robust example was left get 0.0); {} if the log could not be read.
  attacks          the pyautoattack names run, in order.
RNG: pyautoattack seeds the global torch RNG (torch.manual_seed(seed), torch.cuda.manual_seed(seed))
inside its attacks. The call runs under torch.random.fork_rng (CPU and x's CUDA device, and the
current CUDA device if CUDA is initialized), so the caller's global RNG state is back afterwards; a
CUDA RNG that is not initialized yet may keep the seed pyautoattack queued for it.
pyautoattack's dynamic-defense check counts calls in a module-global counter it never resets (one
flagged model would flag every later one); it is reset before each call, so flags belong to this call.
Example:
    >>> atk = create_attack("autoattack", model, eps=8 / 255, path="bpda")
    >>> adv = atk(images, labels); atk.flags, atk.robust_by_attack
    >>> adv = create_attack("apgd_ce", model, eps=8 / 255, seed=1)(images, labels)
"""
from __future__ import annotations

import logging
import re
import sys
from contextlib import contextmanager

import torch

from qrobust.attacks._base import register_attack
from qrobust.attacks._linf import LinfAttack

VERSIONS = ("standard", "plus", "rand", "custom")
ATTACK_NAMES = ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square")  # pyautoattack's names
LOGGER = "auto-attack"  # pyautoattack's logger (AutoAttack and, through it, APGD's gradient check)

_PERTURBED = re.compile(r"^(\S+) - \d+/\d+ - (\d+) out of (\d+) successfully perturbed$")
_INITIAL = re.compile(r"^initial accuracy: ([0-9.]+)%$")


class _Capture(logging.Handler):
    """Collects WARNING-or-higher messages (flags) and AutoAttack's per-batch success counts."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.flags: list[str] = []
        self.initial_pct: float | None = None
        self.counts: dict[str, list[int]] = {}  # attack -> [examples attacked, examples fooled]

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:  # a malformed record must not break the attack
            return
        if record.levelno >= logging.WARNING:
            self.flags.append(msg)
            return
        m = _PERTURBED.match(msg)
        if m:
            c = self.counts.setdefault(m.group(1), [0, 0])
            c[0] += int(m.group(3))
            c[1] += int(m.group(2))
            return
        m = _INITIAL.match(msg)
        if m:
            self.initial_pct = float(m.group(1))

    def robust_by_attack(self, attacks, n: int) -> dict:
        if n == 0 or self.initial_pct is None:
            return {}
        robust = round(self.initial_pct / 100.0 * n)
        out = {"clean": robust / n}
        for a in attacks:
            attacked, fooled = self.counts.get(a, (0, 0))
            if a in self.counts and attacked != robust:  # the log does not add up: do not guess
                return {}
            if a not in self.counts and robust != 0:
                return {}
            robust -= fooled
            out[a] = robust / n
        return out


@contextmanager
def _captured_log():
    """The logger "auto-attack" writes only to a fresh _Capture (DEBUG up) during the block."""
    log = logging.getLogger(LOGGER)
    saved = (list(log.handlers), log.level, log.propagate, log.disabled)
    cap = _Capture()
    log.handlers = [cap]
    log.setLevel(logging.DEBUG)
    log.propagate, log.disabled = False, False
    try:
        yield cap
    finally:
        log.handlers, log.propagate, log.disabled = saved[0], saved[2], saved[3]
        log.setLevel(saved[1])


def _rng_devices(x: torch.Tensor) -> list[int]:
    devs = set()
    if x.is_cuda:
        devs.add(x.device.index if x.device.index is not None else torch.cuda.current_device())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        devs.add(torch.cuda.current_device())
    return sorted(devs)


@register_attack("autoattack")
class AutoAttackRef(LinfAttack):
    """pyautoattack's AutoAttack (Linf) as a qrobust attack; see the module docstring."""

    component: str | None = None  # one attack of the standard version (the component entries)

    def __init__(self, model, eps: float = 8 / 255, seed: int = 0, version: str = "standard",
                 attacks: list[str] | None = None):
        super().__init__(model, eps, seed)
        if version not in VERSIONS:
            raise ValueError(f"unknown AutoAttack version '{version}'; allowed: {', '.join(VERSIONS)}")
        if version == "custom":
            if not attacks:
                raise ValueError(f"version 'custom' needs attacks=[...] from: {', '.join(ATTACK_NAMES)}")
            bad = [a for a in attacks if a not in ATTACK_NAMES]
            if bad:
                raise ValueError(f"unknown AutoAttack attack(s) {', '.join(map(repr, bad))}; "
                                 f"allowed: {', '.join(ATTACK_NAMES)}")
            if len(set(attacks)) != len(attacks):
                raise ValueError(f"AutoAttack attacks must be distinct, got {list(attacks)}")
            attacks = list(attacks)
        elif attacks is not None:
            raise ValueError(f"attacks=[...] needs version='custom' (version '{version}' fixes its own attacks)")
        self.version, self._custom = version, attacks
        self.flags: list[str] = []
        self.robust_by_attack: dict = {}
        with _captured_log():  # AutoAttack logs its version's settings on construction
            self.attacks = tuple(self._build(torch.device("cpu")).attacks_to_run)

    def _build(self, device):
        from pyautoattack import AutoAttack

        aa = AutoAttack(self.model, eps=self.eps, seed=self.seed, version=self.version, device=device,
                        norm="Linf", attacks=self._custom)
        if self.component is not None:
            aa.attacks_to_run = [self.component]
        return aa

    def perturb(self, x, y):
        from pyautoattack import checks

        self.flags, self.robust_by_attack = [], {}
        if len(x) == 0:
            return x.clone()
        trace = sys.gettrace()  # check_dynamic ends with sys.settrace(None): give a tracer (coverage) back
        try:
            with _captured_log() as cap, torch.random.fork_rng(devices=_rng_devices(x)):
                for k in checks.funcs:  # pyautoattack never resets these counters (see the module docstring)
                    checks.funcs[k] = 0
                aa = self._build(x.device)
                x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=len(x))
        finally:
            sys.settrace(trace)
        self.attacks = tuple(aa.attacks_to_run)
        self.flags = list(cap.flags)
        self.robust_by_attack = cap.robust_by_attack(self.attacks, len(x))
        return x_adv


class _Component(AutoAttackRef):
    """One attack of the standard version. `restarts`: its random restarts (AutoAttack's n_restarts; the
    standard version runs 1, `plus` 5), each on the images the earlier ones left; APGD only."""

    def __init__(self, model, eps: float = 8 / 255, seed: int = 0, restarts: int = 1):
        if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
            raise ValueError(f"{self.component}: restarts must be a whole number >= 1, got {restarts!r}")
        if restarts != 1 and self.component not in _ENGINES:
            raise ValueError(f"{self.component}: restarts are APGD's ({', '.join(_ENGINES)}); "
                             f"{self.component} runs AutoAttack's own")
        self.restarts = restarts
        super().__init__(model, eps=eps, seed=seed, version="standard")

    def _build(self, device):
        aa = super()._build(device)
        if self.component in _ENGINES:
            getattr(aa, _ENGINES[self.component]).n_restarts = self.restarts
        return aa


_ENGINES = {"apgd-ce": "apgd", "apgd-dlr": "apgd", "apgd-t": "apgd_targeted"}  # the AutoAttack object running each


@register_attack("apgd_ce")
class APGDCE(_Component):
    """APGD on the cross-entropy loss, as in AutoAttack's standard version (100 iterations, 1 restart unless
    `restarts`)."""

    component = "apgd-ce"


@register_attack("apgd_dlr")
class APGDDLR(_Component):
    """APGD on the DLR loss with the standard version's APGD settings (100 iterations, 1 restart)."""

    component = "apgd-dlr"


@register_attack("apgd_t")
class APGDT(_Component):
    """Targeted APGD on the DLR loss, as in the standard version (9 target classes, 100 iterations each)."""

    component = "apgd-t"


@register_attack("fab_t")
class FABT(_Component):
    """Targeted FAB, as in the standard version (9 target classes, 1 restart, 100 iterations)."""

    component = "fab-t"
