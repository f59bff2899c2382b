"""Accuracy of one model under every configured attack at every eps, white-box and black-box.

Black-box (DQ's "(B)" columns): examples crafted on a separately trained substitute by the
same attack, then classified by the model. Cell k (an (attack, eps, white/black box) in the order of
the records) on batch b is seeded derive_seed(seed, k, b): reruns give the same numbers, and the
seeds of different run seeds, cells and batches do not repeat each other (seed * 1000 + 7k + offset
did once the test split passed 1,000 images). An example counts as robust only if the model
classifies it correctly both clean and attacked.

The black-box examples depend on the substitute, the attack, eps, the run seed and the batch split
only, never on the model that classifies them: `craft_blackbox` makes them once (the
`craft_blackbox` rule, one file per substitute and seed) and every model's `robust_accuracy`
reads them (`blackbox_examples`), with the same seeds as crafting them in place would use.
"""
from __future__ import annotations

import sys

import torch
import torch.nn as nn
from tqdm import tqdm

from qrobust.attacks import create_attack
from qrobust.attacks._linf import derive_seed
from qrobust.evaluation import images
from qrobust.models import inference_layout


def step_size(name: str, eps: float, kw: dict) -> dict:
    """Iterative attacks with a fixed step count but no step size get Madry et al.'s 2.5 * eps / steps,
    so the budget is reachable at every eps (Kurakin's 1/255 steps need eps*255 + 4 of them). A None
    option is not given (the attack's default: a config override unsets a base config's option with null)."""
    kw = {k: v for k, v in kw.items() if v is not None}
    if name in ("bim", "pgd") and kw.get("steps") and "alpha" not in kw:
        kw["alpha"] = 2.5 * eps / kw["steps"]
    return kw


@torch.inference_mode()
def _correct(model, x, y) -> torch.Tensor:
    return model(x).argmax(1) == y


def _cells(attacks, blackbox, eps) -> list[tuple[str, float, bool]]:
    return [(a, e, False) for a in attacks for e in eps] + [(a, e, True) for a in blackbox for e in eps]


def cell_name(attack: str, eps: float) -> str:
    return f"{attack}@{eps!r}"


def craft_blackbox(x: torch.Tensor, y: torch.Tensor, *, substitute: nn.Module, attacks: list[str], blackbox: list[str],
                   eps: list[float], attack_kwargs: dict, device, seed: int = 0, batch_size: int = 500,
                   progress: bool = True) -> dict[str, torch.Tensor]:
    """The transferred examples of every black-box cell: cell_name(attack, eps) -> float N x C x H x W
    on [0, 1], on the CPU. `attacks` (the white-box ones) only fix the cell numbers, hence the seeds."""
    substitute.to(device).eval()
    with inference_layout(substitute):
        cells = _cells(attacks, blackbox, eps)
        out = {cell_name(a, e): [] for a, e, black in cells if black}
        bar = tqdm(total=len(y) * len(out), desc="black-box", file=sys.stderr, disable=None if progress else True, mininterval=2.0)
        for b, i in enumerate(range(0, len(y), batch_size)):
            xb = x[i:i + batch_size].float().div_(255.0).to(device)
            yb = y[i:i + batch_size].to(device)
            for k, (name, e, black) in enumerate(cells):
                if black:
                    kw = step_size(name, e, attack_kwargs.get(name, {}))
                    atk = create_attack("transfer", substitute, eps=e, seed=derive_seed(seed, k, b), substitute=substitute,
                                        inner=name, **kw)
                    out[cell_name(name, e)].append(atk(xb, yb).cpu())
                    bar.update(len(yb))
        bar.close()
        return {c: torch.cat(v) for c, v in out.items()}


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, attacks: list[str], blackbox: list[str],
                    eps: list[float], attack_kwargs: dict, substitute: nn.Module | None, device, seed: int = 0,
                    batch_size: int = 500, progress: bool = True,
                    blackbox_examples: dict[str, torch.Tensor] | None = None, attack_images: int | None = None) -> dict:
    """x uint8 N x C x H x W. Returns clean accuracy and one record per (attack, eps, white/black box), in %.
    The clean accuracy counts all N images; every attack cell `attack_images` of them, the run seed's own
    sample (evaluation/images.sample; None: all N). Black-box cells read `blackbox_examples`
    (craft_blackbox's output for that sample) or, without them, are crafted here on `substitute`.
    Per-image outcomes: "clean_correct" over all N ("clean_images"), each record's "correct" over the
    sample ("images")."""
    n = len(y)
    idx = images.sample(n, attack_images, seed)
    m = len(idx)
    sel = torch.from_numpy(idx)
    xs, ys = x[sel], y[sel]
    model.to(device).eval()
    with inference_layout(model, substitute):
        cells = _cells(attacks, blackbox, eps)
        if blackbox and blackbox_examples is None:
            if substitute is None:
                raise ValueError("black-box attacks need a substitute model (robustness.substitute)")
            blackbox_examples = craft_blackbox(xs, ys, substitute=substitute, attacks=attacks, blackbox=blackbox, eps=eps,
                                               attack_kwargs=attack_kwargs, device=device, seed=seed,
                                               batch_size=batch_size, progress=progress)
        for a, e, black in cells:
            if black and (cell_name(a, e) not in blackbox_examples or len(blackbox_examples[cell_name(a, e)]) != m):
                raise ValueError(f"the black-box examples have no {m} images for {cell_name(a, e)}; "
                                 "remake them (snakemake's craft_blackbox rule) with this config")
        clean_parts = []
        for i in range(0, n, batch_size):
            clean_parts.append(_correct(model, x[i:i + batch_size].float().div_(255.0).to(device),
                                        y[i:i + batch_size].to(device)).cpu())
        clean = torch.cat(clean_parts)
        ok_cells = {c: [] for c in cells}
        bar = tqdm(total=m * len(cells), desc="attacks", file=sys.stderr, disable=None if progress else True, mininterval=2.0)
        for b, i in enumerate(range(0, m, batch_size)):
            xb = xs[i:i + batch_size].float().div_(255.0).to(device)
            yb = ys[i:i + batch_size].to(device)
            ok = clean[sel[i:i + batch_size]].to(device)
            for k, (name, e, black) in enumerate(cells):
                if black:
                    adv = blackbox_examples[cell_name(name, e)][i:i + batch_size].to(device)
                else:
                    kw = step_size(name, e, attack_kwargs.get(name, {}))
                    adv = create_attack(name, model, eps=e, seed=derive_seed(seed, k, b), **kw)(xb, yb)  # own stream
                ok_cells[(name, e, black)].append((ok & _correct(model, adv, yb)).cpu())
                bar.update(len(yb))
        bar.close()
        results = []
        for a, e, black in cells:
            ok = torch.cat(ok_cells[(a, e, black)]) if ok_cells[(a, e, black)] else torch.zeros(0, dtype=torch.bool)
            results.append({"attack": a, "eps": e, "blackbox": black, "acc": 100.0 * ok.sum().item() / m,
                            "correct": images.bits(ok)})
        return {"n": n, "n_attacked": m, "clean_acc": 100.0 * clean.sum().item() / n, "results": results,
                "images": images.encode(idx), "clean_images": images.encode(range(n)), "clean_correct": images.bits(clean)}
