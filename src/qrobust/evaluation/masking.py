"""Gradient-masking audit of a worst-case evaluation: the checks of Carlini et al., "On Evaluating
Adversarial Robustness" (arXiv 1902.06705, 2019, section 5) and of AutoAttack (Croce & Hein, ICML
2020), each a named flag with its numbers, on the images the worst case ran on.

Checks (each {"check", "flagged", "value", "threshold", "detail"}; a check whose inputs are missing
is left out, e.g. autoattack_checks without an AutoAttack member):
  autoattack_checks            AutoAttack's own warnings (value: how many); flagged if any.
  eps_reaches_chance           PGD on the best white-box path at every eps of `sweep_eps` (at an eps
                               >= the worst case's, on the images the ensemble left: the others are
                               fooled there too): accuracy at the largest must be <= 100 / n_classes
                               + chance_margin.
  iterative_beats_single_step  pgd@path - fgsm@path for every path with both (value: the largest);
                               flagged if > 0: an iterative attack must not be weaker than one step.
  more_steps_stable            is the worst case converged? PGD with twice the steps (half the step
                               size: the same travel) and twice the restarts of the same-path pgd
                               member (or `pgd` at eps) on the best white-box path, against a
                               replicate of that member with other random numbers, both on the
                               images the ensemble left: flagged when the stronger PGD fools
                               significantly more of them than the replicate (McNemar's test on the
                               images one fools and the other not, z > 1.96), so that restart-to-
                               restart variability alone never fires it, whatever the number of
                               images. Value: the stronger PGD's drop of the worst case (points).
  second_surrogate             the BPDA path with a second smooth staircase (temperature x 4), tested
                               against the same replicate in the same way: a model whose STE and
                               first-temperature BPDA gradients are both useless is caught here.
  saturated                    would one more attack move the reported worst case? Each attack the audit
                               adds at eps (the replicate and a second draw of each APGD member, with
                               its own arguments: other random starts; the stronger PGD: a doubled
                               budget; the second staircase: another member) is taken as the last one
                               added: its share is the images it alone fooled, of all the ensemble
                               and the audit left. Flagged when the largest share is a point or more
                               (value: that share).
  blackbox_not_better          % of images some black-box member fools while every white-box member
                               fails; flagged if > blackbox_tolerance. Square is black-box wherever
                               it runs: an AutoAttack whose run includes it is "mixed" and an image
                               it fooled counts on neither side.
  zero_gradient                % of the clean-correct images whose cross-entropy input gradient is
                               exactly zero under the ste path; flagged if > 0.
  ste_gap                      accuracy of the best @ste member minus the lowest member with an
                               accuracy of its own (unpruned: how much STE attacks overstate
                               robustness); flagged if > gap_tolerance.
Accuracies and tolerances are in % (points). The audit's PGD runs draw from
derive_seed(seed, AUDIT, run, batch): four numbers, never the (seed, member, batch) of a worst-case member.
The eps sweep always ends at eps 0.5, where every [0, 1] image can be moved to the same grey image: no
model is above chance there. The audit's attacks at the worst case's eps (the replicate, the stronger PGD,
the second surrogate, the second APGD draws) are attacks like the members': `robust` (per image, what
survives them too) folds them into the reported worst case (jobs/worst_case.py).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from qrobust.attacks import PATHS, create_attack
from qrobust.attacks._linf import derive_seed, kurakin_defaults
from qrobust.evaluation.ensemble import check_paths
from qrobust.evaluation.robust import step_size
from qrobust.evaluation.worst_case import bits, unbits, unfooled
from qrobust.models import inference_layout

AUDIT = 1  # the audit's seeds: derive_seed(seed, AUDIT, run, batch)
CHANCE_EPS = 0.5  # Linf on [0, 1]: every image can become the same grey image, so no model stays above chance
SECOND_TEMPERATURE = 4.0  # the second smooth staircase: this many times the worst case's temperature
Z = 1.96  # McNemar's test at 5 %, two-sided
SATURATION = 1.0  # points: the most an added attack may move a saturated worst case
DEFAULT_PGD = {"steps": 20, "restarts": 1}


def _check(name: str, flagged: bool, value, threshold, detail: str) -> dict:
    return {"check": name, "flagged": bool(flagged), "value": value, "threshold": threshold, "detail": detail}


class _Runner:
    """PGD runs of the audit on the worst case's images, each with its own seed stream."""

    def __init__(self, model, x, y, clean, *, device, seed, batch_size, temperature):
        self.model, self.x, self.y, self.clean = model, x, y, clean
        self.device, self.seed, self.batch_size, self.temperature = device, seed, batch_size, temperature
        self.runs = 0

    def batches(self):
        for b, i in enumerate(range(0, len(self.y), self.batch_size)):
            xb = self.x[i:i + self.batch_size].float().div_(255.0).to(self.device)
            yield b, i, xb, self.y[i:i + self.batch_size].to(self.device)

    def attack_correct(self, eps: float, path: str, kw: dict, only: torch.Tensor | None = None,
                    temperature: float | None = None, attack: str = "pgd") -> torch.Tensor:
        """Per image: correct clean and under PGD(kw) (or `attack`(kw)) at eps through `path` (bool, on the
        CPU). `only`: attack just these images (bool mask; the others come back False); `temperature`: the
        BPDA staircase's, when not the worst case's."""
        run, self.runs = self.runs, self.runs + 1
        keep = self.clean if only is None else self.clean & only
        idx = keep.nonzero().flatten()
        ok = torch.zeros(len(self.y), dtype=torch.bool)
        for b, i in enumerate(range(0, len(idx), self.batch_size)):
            sel = idx[i:i + self.batch_size]
            xb, yb = self.x[sel].float().div_(255.0).to(self.device), self.y[sel].to(self.device)
            atk = create_attack(attack, self.model, path=path, temperature=temperature or self.temperature, eps=eps,
                                seed=derive_seed(self.seed, AUDIT, run, b), **kw)
            adv = atk(xb, yb)
            with torch.no_grad():
                ok[sel] = (self.model(adv).argmax(1) == yb).cpu()
        return ok

    def pgd(self, eps: float, path: str, kw: dict, only: torch.Tensor | None = None) -> float:
        """% of images correct clean and under PGD(kw) at eps through `path` (`only`: see attack_correct)."""
        return 100.0 * self.attack_correct(eps, path, kw, only).sum().item() / len(self.y)

    def zero_gradients(self) -> int:
        """Clean-correct images whose CE input gradient is exactly zero (real model, ste path)."""
        zero = 0
        for _, i, xb, yb in self.batches():
            keep = self.clean[i:i + len(yb)].to(xb.device)
            if not keep.any():
                continue
            xk = xb[keep].clone().requires_grad_(True)
            with torch.enable_grad():
                loss = F.cross_entropy(self.model(xk), yb[keep], reduction="sum")  # per-example gradients
                (g,) = torch.autograd.grad(loss, xk)
            zero += (g.flatten(1).abs().amax(1) == 0).sum().item()
        return zero


def audit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, wc: dict, *, eps: float,
          paths=("ste", "bpda", "surrogate", "float"), temperature: float = 0.25, device="cpu", seed: int = 0,
          batch_size: int = 500, sweep_eps=None, pgd: dict | None = None, chance_margin: float = 5.0,
          blackbox_tolerance: float = 1.0, gap_tolerance: float = 5.0) -> dict:
    """The gradient-masking checks (module docstring) for `wc` = worst_case(model, x, y, ...) on the same
    images. `sweep_eps`: the eps of the sweep (default eps x 1, 2, 4, 8, capped at 1); `pgd`: the sweep's
    PGD kwargs (default {steps: 20, restarts: 1}; pgd's step-size rule applies at each eps).

    Returns {"checks": [...], "flags": [names of flagged checks], "masked": bool, "eps_sweep": [{"eps",
    "path", "acc"}], "robust": "0101..." (per image: robust under the ensemble and the audit's attacks at eps),
    "worst_acc_ensemble": the ensemble's worst case before them}."""
    paths = check_paths(paths)
    n = len(y)
    if wc.get("n") != n or len(wc["correct"]["clean"]) != n:
        raise ValueError(f"the worst case ran on {wc.get('n')} images, the audit got {n}: audit the same images")
    pgd = dict(DEFAULT_PGD if pgd is None else pgd)
    if sweep_eps is None:
        sweep_eps = sorted({min(eps * k, 1.0) for k in (1, 2, 4, 8)})
    if not isinstance(sweep_eps, (list, tuple)) or not sweep_eps:
        raise ValueError(f"audit.sweep_eps must be a non-empty list of eps in [0, 1], got {sweep_eps!r}")
    sweep_eps = sorted({float(e) for e in sweep_eps} | {CHANCE_EPS})
    model.to(device).eval()
    with inference_layout(model):
        y = torch.as_tensor(y, dtype=torch.long)
        clean = unbits(wc["correct"]["clean"])
        runner = _Runner(model, x, y, clean, device=device, seed=seed, batch_size=batch_size, temperature=temperature)
        members = wc["members"]
        # not fooled by the member ("-": a pruned member did not attack the image)
        correct = {m["name"]: unfooled(wc["correct"][m["name"]]) for m in members}
        robust = clean.clone()  # the worst case: correct clean and fooled by no member
        for m in members:
            robust &= correct[m["name"]]
        worst = 100.0 * robust.sum().item() / n
        alone = [m for m in members if m.get("acc") is not None]  # members with an accuracy of their own
        white = [m for m in members if m["kind"] == "white"]
        black = [m for m in members if m["kind"] == "black"]
        mixed = [m for m in members if m["kind"] == "mixed"]  # an AutoAttack that ran Square too
        white_alone = [m for m in white if m in alone]
        best_white = min(white_alone, key=lambda m: m["acc"]) if white_alone else None
        path = best_white["path"] if best_white else "ste"
        checks = []

        # AutoAttack's own checks
        aa = wc.get("autoattack")
        if aa is not None:
            flags = list(aa.get("flags") or [])
            checks.append(_check("autoattack_checks", len(flags) > 0, len(flags), 0,
                                 f"AutoAttack ({aa['member']}) raised {len(flags)} warning(s)"
                                 + (": " + " | ".join(flags) if flags else "") + "."))

        # accuracy must reach chance as eps grows; at an eps >= the worst case's, an image the ensemble
        # fooled is fooled there too (its example lies in the larger ball): PGD attacks only the rest
        sweep = [{"eps": float(e), "path": path,
                  "acc": runner.pgd(float(e), path, step_size("pgd", float(e), pgd), robust if e >= eps else None)}
                 for e in sweep_eps]
        top = max(sweep, key=lambda r: r["eps"])
        n_classes = wc["n_classes"]
        chance = 100.0 / n_classes + chance_margin
        checks.append(_check("eps_reaches_chance", top["acc"] > chance, top["acc"], chance,
                             f"PGD@{path} at the largest eps {top['eps']:.4g} leaves {top['acc']:.2f}% accuracy; "
                             f"chance for {n_classes} classes plus {chance_margin:g} points is {chance:.2f}%."))

        # iterative attacks must beat single-step ones
        order = paths + [p for p in PATHS if p not in paths]
        pairs = []
        for p in order:
            it = next((m for m in alone if m["attack"] == "pgd" and m["path"] == p), None)
            one = next((m for m in alone if m["attack"] == "fgsm" and m["path"] == p), None)
            if it and one:
                pairs.append((p, it["acc"] - one["acc"]))
        if pairs:
            worst_p, diff = max(pairs, key=lambda t: t[1])
            checks.append(_check("iterative_beats_single_step", diff > 0, diff, 0.0,
                                 f"pgd minus fgsm accuracy is at most {diff:+.2f} points (on path {worst_p}; "
                                 f"paths compared: {', '.join(p for p, _ in pairs)})."))

        # more steps and restarts, and a second surrogate, must not do better than new random numbers do
        base = next((m for m in alone if m["attack"] == "pgd" and m["path"] == path), None)
        if base is not None:
            base_kw, base_acc, base_name = dict(base["kwargs"]), base["acc"], base["name"]
        else:
            base_kw = step_size("pgd", eps, pgd)
            base_acc, base_name = runner.pgd(eps, path, base_kw), f"audit pgd@{path}"
        alpha, steps = kurakin_defaults(eps, base_kw.get("alpha"), base_kw.get("steps"))
        strong_kw = {**base_kw, "steps": 2 * steps, "alpha": alpha / 2, "restarts": 2 * int(base_kw.get("restarts", 1))}
        # exact on the images the ensemble left: those are the only ones it can take from the worst case
        replicate = runner.attack_correct(eps, path, base_kw, only=robust)
        strong = runner.attack_correct(eps, path, strong_kw, only=robust)
        drop = worst - 100.0 * (robust & strong).sum().item() / n
        more, z = _beats(strong, replicate, robust)
        checks.append(_check("more_steps_stable", z > Z, drop, Z,
                             f"on the {int(robust.sum())} images the ensemble left, PGD@{path} with {2 * steps} steps and "
                             f"{strong_kw['restarts']} restarts fools {more[0]} that a replicate of {base_name} with other "
                             f"random numbers does not, the replicate {more[1]} it does not (McNemar z = {z:.2f}; "
                             f"{base_name} alone: {base_acc:.2f}%); it lowers the worst case from {worst:.2f}% by "
                             f"{drop:.2f} points."))
        survived = robust & strong & replicate
        if "bpda" in paths:
            t2 = temperature * SECOND_TEMPERATURE
            second = runner.attack_correct(eps, "bpda", base_kw, only=robust, temperature=t2)
            more, z = _beats(second, replicate, robust)
            checks.append(_check("second_surrogate", z > Z, 100.0 * (robust & ~second).sum().item() / n, Z,
                                 f"PGD through a second smooth staircase (BPDA temperature {t2:g}) fools {more[0]} of the "
                                 f"{int(robust.sum())} images the ensemble left that the replicate does not, the replicate "
                                 f"{more[1]} it does not (McNemar z = {z:.2f})."))
            survived &= second
        # a second draw of each APGD member on the worst case's staircase (its random starts: another draw
        # finds other images), with the member's own arguments
        apgd = {}
        for m in members:
            if m["attack"].startswith("apgd") and ":" not in m["name"]:
                apgd[f"a second draw of {m['name']}"] = a = runner.attack_correct(eps, m["path"], m["kwargs"], only=robust,
                                                                               attack=m["attack"])
                survived &= a
        # saturated: would one more attack move the reported worst case (the ensemble and these added attacks)?
        # Each added attack's own share, the images it alone fooled (leave-one-out), is what adding it last
        # moved: the replicate stands for a second random draw, the stronger PGD for a doubled budget, the
        # second staircase for another member
        added = {f"a second draw of {base_name}": replicate, f"PGD@{path} x2": strong, **apgd}
        if "bpda" in paths:
            added["the second staircase"] = second
        own = {k: 100.0 * (robust & ~a & torch.stack([b for j, b in added.items() if j != k]).all(0)).sum().item() / n
               for k, a in added.items()}
        over = {k: 100.0 * (robust & ~a).sum().item() / n for k, a in added.items()}
        top_name, top = max(own.items(), key=lambda kv: kv[1])
        checks.append(_check("saturated", top >= SATURATION, top, SATURATION,
                             f"added last, {top_name} moves the worst case by {top:.2f} points (each added attack's "
                             f"images no other fooled: {', '.join(f'{k} {v:.2f}' for k, v in own.items())}; "
                             f"together they move the ensemble's {worst:.2f}% by "
                             f"{worst - 100.0 * survived.sum().item() / n:.2f}, alone by "
                             f"{', '.join(f'{k} {v:.2f}' for k, v in over.items())})."))

        # black-box attacks must not beat white-box ones
        if white and black:
            # a pruned member did not attack what an earlier member fooled: "-" counts as not fooled, so
            # an image counts when a black-box member fooled it and no white-box member that tried did
            black_wins = clean.clone() & torch.stack([~correct[m["name"]] for m in black]).any(0)
            white_fail = torch.stack([correct[m["name"]] for m in white + mixed]).all(0)  # mixed: on neither side
            pct = 100.0 * (black_wins & white_fail).sum().item() / n
            checks.append(_check("blackbox_not_better", pct > blackbox_tolerance, pct, blackbox_tolerance,
                                 f"{pct:.2f}% of the images are fooled by a black-box member ({len(black)}) "
                                 f"but by no white-box member ({len(white)})."))

        # zero gradients
        n_clean = int(clean.sum().item())
        zero = runner.zero_gradients()
        pct = 100.0 * zero / n_clean if n_clean else 0.0
        checks.append(_check("zero_gradient", pct > 0, pct, 0.0,
                             f"{zero} of {n_clean} clean-correct images ({pct:.2f}%) have an exactly zero "
                             f"cross-entropy input gradient under the ste path."))

        # STE attacks overstating robustness
        ste = [m for m in alone if m["path"] == "ste" and m["kind"] == "white"]
        if ste:
            # against the lowest member with an accuracy of its own (pruned members have none): on a
            # model without quantizers every path is the same attack and the gap is 0
            best_ste = min(ste, key=lambda m: m["acc"])
            low = min(alone, key=lambda m: m["acc"])
            gap = best_ste["acc"] - low["acc"]
            checks.append(_check("ste_gap", gap > gap_tolerance, gap, gap_tolerance,
                                 f"the best STE member {best_ste['name']} leaves {best_ste['acc']:.2f}%, "
                                 f"{gap:.2f} points above the lowest member {low['name']} ({low['acc']:.2f}%)."))

        flags = [c["check"] for c in checks if c["flagged"]]
        return {"checks": checks, "flags": flags, "masked": bool(flags), "eps_sweep": sweep,
                "robust": bits(robust & survived), "worst_acc_ensemble": worst}


def _beats(a: torch.Tensor, b: torch.Tensor, on: torch.Tensor) -> tuple[tuple[int, int], float]:
    """((images attack a fools and b does not, the reverse), McNemar's z) among the images `on`; a, b: correct
    under each attack (True: not fooled)."""
    only_a = int((on & ~a & b).sum().item())
    only_b = int((on & a & ~b).sum().item())
    z = (only_a - only_b) / (only_a + only_b) ** 0.5 if only_a + only_b else 0.0
    return (only_a, only_b), z
