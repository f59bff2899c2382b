"""Worst-case robust accuracy over an ensemble of attacks, compared per example.

An image counts as robust only if the real model classifies it correctly clean AND under every
member of the ensemble: the per-example worst case, never a mean over attacks (Carlini et al.,
"On Evaluating Adversarial Robustness", 2019; Croce & Hein, AutoAttack, ICML 2020).

Ensemble members (config entries, in order):
  {attack: <registered name>, paths: [..] | best, **kwargs}
      a gradient attack runs once per gradient path (attacks._base.PATHS: ste, bpda, surrogate,
      float; default: worst_case's `paths`), named "<attack>@<path>". `paths: best` runs it once,
      on the path whose gradient members so far reached the lowest accuracy (ties: the first in
      `paths` order) -- for expensive attacks (AutoAttack). ste and bpda run on the real model:
      kind "white"; surrogate and float are crafted on a copy (smooth copy, float twin) and
      transferred: kind "black".
  {attack: square | random, **kwargs}
      a gradient-free attack runs once, named "<attack>", kind "black".
  {attack: transfer, sources: [surrogate, float, substitute], inner: pgd, **inner_kwargs}
      one member per source, named "transfer:<source>", kind "black": the inner attack crafted on
      the smooth copy, on the float twin, or on the separately trained `substitute` (skipped, and
      listed under "skipped", when there is none).
Pruning (exact for the worst case): a member with `prune: true` attacks only the images still
robust when its turn comes (correct clean and under every member before it): an image some member
already fooled cannot become robust again. Default: true for `paths: best` members, gradient-free
attacks and transfers (the expensive ones), false for gradient attacks on listed paths (the cheap
probes whose own accuracy on every image the audit compares: pgd vs fgsm, ste vs the rest). A
pruned member has no accuracy of its own ("acc": null); "n_attacked" and "fooled" say what it did,
and its bits are "-" on the images it did not attack.
kwargs go to the attack; pgd and bim with `steps` but no `alpha` get alpha = 2.5 * eps / steps
(evaluation.robust.step_size). Each (member, batch) draws from its own seed
derive_seed(seed, entry, batch_index), `entry` being the member's position in the ensemble list:
the members one entry expands to (an attack on each path, a transfer from each source) share their
random draws, so they differ only in their gradient (on a model without quantizers, `pgd@ste` and
`pgd@bpda` are the same attack), and leaving out the substitute changes no other member's numbers.
"""
from __future__ import annotations

import sys
import time

import torch
import torch.nn as nn

from qrobust.attacks import create_attack
from qrobust.attacks._linf import derive_seed
from qrobust.evaluation.ensemble import Member, best_path, check_paths, plan
from qrobust.evaluation.robust import step_size
from qrobust.models import inference_layout


def _attack(m: Member, model, *, eps, temperature, substitute, seed):
    stair = {"temperature": m.temperature or temperature, "form": m.form}  # the member's own staircase, if any
    if m.attack == "transfer":
        kw = step_size(m.inner, eps, m.kwargs)
        if m.source == "substitute":
            return create_attack("transfer", model, eps=eps, seed=seed, substitute=substitute, inner=m.inner, **kw), \
                {"inner": m.inner, **kw}
        return create_attack(m.inner, model, path=m.source, eps=eps, seed=seed, **stair, **kw), {"inner": m.inner, **kw}
    kw = step_size(m.attack, eps, m.kwargs)
    return create_attack(m.attack, model, path=m.path or "ste", eps=eps, seed=seed, **stair, **kw), kw


def bits(mask: torch.Tensor, attacked: torch.Tensor | None = None) -> str:
    """Bool vector -> "0101..." (1 = classified correctly); "-" where `attacked` is False (a pruned
    member did not attack the image: an earlier member had fooled it, or it was wrong clean)."""
    if attacked is None:
        return "".join("1" if v else "0" for v in mask.tolist())
    return "".join(("1" if v else "0") if a else "-" for v, a in zip(mask.tolist(), attacked.tolist()))


def unbits(s: str) -> torch.Tensor:
    """Correct under the member ("1"); "0" and "-" are False."""
    return torch.tensor([c == "1" for c in s], dtype=torch.bool)


def unfooled(s: str) -> torch.Tensor:
    """Not fooled by the member: "1" or "-" (not attacked)."""
    return torch.tensor([c != "0" for c in s], dtype=torch.bool)


@torch.inference_mode()
def _predict(model, x) -> torch.Tensor:
    return model(x).argmax(1)


def worst_case(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, ensemble: list,
               paths=("ste", "bpda", "surrogate", "float"), temperature: float = 0.25,
               substitute: nn.Module | None = None, device="cpu", seed: int = 0, batch_size: int = 500,
               n_classes: int | None = None, progress: bool = False) -> dict:
    """x uint8 N x C x H x W, y labels. Runs every member on every image (pruned members: on the images
    still robust); accuracies in %.

    Returns {"n", "eps", "n_classes", "clean_acc", "worst_acc", "members": [{"name", "attack", "path",
    "source", "kind", "kwargs", "acc" (null when pruned), "pruned", "n_attacked", "fooled", "first_broken" (the
    images no member before it had broken), "seconds"}],
    "best" (the lowest member accuracy of its own), "autoattack": {"member", "acc", "flags"} | None (the first
    member from AutoAttack's code, the whole of it or a component such as APGD-CE, with the warnings of its checks),
    "correct": {"clean": "0101...", <member name>: "01-1..."}, "worst_correct": "0100..." (robust under every
    member), "broken_by": per image the index in "members" of the member that first broke it (-1: wrong clean
    or robust), "skipped": [...]} (see the module docstring).
    """
    members = plan(ensemble, paths)
    paths = check_paths(paths)
    n = len(y)
    if n == 0 or x.shape[0] != n:
        raise ValueError(f"worst_case needs images and as many labels, got {tuple(x.shape)} and {n}")
    model.to(device).eval()
    if substitute is not None:
        substitute.to(device).eval()
    with inference_layout(model, substitute):
        y = torch.as_tensor(y, dtype=torch.long)
        starts = list(range(0, n, batch_size))

        def batch(b):
            i = starts[b]
            return x[i:i + batch_size].float().div_(255.0).to(device), y[i:i + batch_size].to(device)

        clean_parts = []
        for b in range(len(starts)):
            xb, yb = batch(b)
            with torch.no_grad():
                logits = model(xb)
            n_classes = n_classes or int(logits.shape[1])
            clean_parts.append((logits.argmax(1) == yb).cpu())
        clean = torch.cat(clean_parts)

        records, correct, skipped, aa = [], {"clean": bits(clean)}, [], None
        broken_by = torch.full((n,), -1, dtype=torch.long)  # per image, the member that first broke it
        all_correct = clean.clone()
        taken: set[str] = {"clean"}
        for m in members:
            if m.source == "substitute" and substitute is None:
                skipped.append({"name": m.name(), "reason": "no substitute model given"})
                continue
            if m.path == "best":
                m.path = best_path(records, paths)
            name, k = m.name(), 2
            while name in taken:  # the same attack twice on a path (other kwargs): "pgd@ste#2"
                name, k = f"{m.name()}#{k}", k + 1
            taken.add(name)
            t0 = time.perf_counter()
            flags, used, checked = [], None, False
            if m.prune:
                # only the images still robust: the same batches of them, each its own seed
                idx = all_correct.nonzero().flatten()
                fooled = torch.zeros(n, dtype=torch.bool)
                for b, i in enumerate(range(0, len(idx), batch_size)):
                    sel = idx[i:i + batch_size]
                    xb, yb = x[sel].float().div_(255.0).to(device), y[sel].to(device)
                    atk, used = _attack(m, model, eps=eps, temperature=temperature, substitute=substitute,
                                        seed=derive_seed(seed, m.entry, b))
                    fooled[sel] = (_predict(model, atk(xb, yb)) != yb).cpu()
                    flags += [f for f in getattr(atk, "flags", None) or [] if f not in flags]
                    checked = checked or hasattr(atk, "flags")
                if used is None:  # nothing left to attack: the arguments it would have used
                    used = _attack(m, model, eps=eps, temperature=temperature, substitute=substitute, seed=seed)[1]
                attacked = torch.zeros(n, dtype=torch.bool)
                attacked[idx] = True
                ok = attacked & ~fooled
                first = all_correct & fooled  # the images this member is the first to break
                all_correct &= ~fooled
                acc, code = None, bits(ok, attacked)
            else:
                ok_parts = []
                for b in range(len(starts)):
                    xb, yb = batch(b)
                    atk, used = _attack(m, model, eps=eps, temperature=temperature, substitute=substitute,
                                        seed=derive_seed(seed, m.entry, b))
                    adv = atk(xb, yb)
                    ok_parts.append(clean_parts[b] & (_predict(model, adv) == yb).cpu())  # real forward, default ste path
                    flags += [f for f in getattr(atk, "flags", None) or [] if f not in flags]
                    checked = checked or hasattr(atk, "flags")
                ok = torch.cat(ok_parts)
                attacked, fooled = clean, clean & ~ok
                first = all_correct & ~ok
                all_correct &= ok
                acc, code = 100.0 * ok.sum().item() / n, bits(ok)
            rec = {"name": name, "attack": m.attack, "path": m.path, "source": m.source, "kind": m.kind(),
                   "kwargs": used, "acc": acc, "pruned": m.prune, "n_attacked": int(attacked.sum().item()),
                   "fooled": int(fooled.sum().item()), "first_broken": int(first.sum().item()),
                   "seconds": round(time.perf_counter() - t0, 3),
                   "gradient": m.gradient}
            records.append(rec)
            correct[name] = code
            broken_by[first] = len(records) - 1
            if checked and aa is None:  # AutoAttack or one of its components (APGD, FAB): its own checks ran
                aa = {"member": name, "acc": acc, "flags": flags}
            if progress:
                what = f"{acc:.2f}%" if acc is not None else f"fooled {rec['fooled']} of {rec['n_attacked']} still robust"
                print(f"  {name}: {what} ({rec['seconds']:.1f} s)", file=sys.stderr)
        for r in records:
            del r["gradient"]
        alone = [r for r in records if r["acc"] is not None]
        best = min(alone, key=lambda r: r["acc"])["name"] if alone else None  # min keeps the first of ties
        return {"n": n, "eps": eps, "n_classes": n_classes, "clean_acc": 100.0 * clean.sum().item() / n,
                "worst_acc": 100.0 * all_correct.sum().item() / n, "members": records, "best": best,
                "autoattack": aa, "correct": correct, "worst_correct": bits(all_correct),
                "broken_by": broken_by.tolist(), "skipped": skipped}
