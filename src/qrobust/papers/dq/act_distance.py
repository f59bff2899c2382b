"""Error amplification (DQ section 3, Figure 3): how far an adversarial input moves each layer's
input, relative to the layer input's own size, for full-precision and quantized models.

For every conv/linear layer l: d_l = mean over images of ||a_l(x_adv) - a_l(x)||_2 / ||a_l(x)||_2,
where a_l is the layer's input and x_adv an FGSM example at eps. DQ's argument: the input
perturbation is small (left zone, quantization denoises it) but is amplified layer by layer until
quantization makes it worse (right zone); fewer bits amplify more.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from qrobust.attacks import create_attack


@torch.no_grad()
def _layer_inputs(model: nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    mods = dict(model.named_modules())
    seen: dict[str, torch.Tensor] = {}
    hooks = [mods[n].register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, i[0].flatten(1))) for n in names]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def normalized_distances(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps_list: list[float],
                         attack: str = "fgsm", seed: int = 0) -> dict:
    """{"layers": [...], "eps": [...], "distance": [[d_l for l] for eps]}; x float in [0, 1]."""
    model.eval()
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    clean = _layer_inputs(model, x, names)
    rows = []
    for eps in eps_list:
        x_adv = create_attack(attack, model, eps=eps, seed=seed)(x, y) if eps > 0 else x
        adv = _layer_inputs(model, x_adv, names)
        rows.append([float(((adv[n] - clean[n]).norm(dim=1) / clean[n].norm(dim=1).clamp_min(1e-12)).mean()) for n in names])
    return {"layers": names, "eps": list(eps_list), "distance": rows, "attack": attack}
