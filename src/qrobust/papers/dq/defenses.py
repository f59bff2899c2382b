"""Inference-time defenses that wrap a model: Feature Squeezing (Xu et al., NDSS 2018), as DQ
(section 5.2) combines it with quantization: colour-depth reduction to `bits` bits, then a
`median` x `median` median filter, in front of the classifier.

White-box attacks see the whole pipeline. The rounding has no gradient, so it passes the
gradient straight through (BPDA's identity, Athalye et al. 2018); otherwise the defense would only
mask gradients. Under an attack's `bpda` gradient path it takes the soft staircase's gradient instead. The median
filter's gradient goes to the selected pixel, as torch.median gives it.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from qrobust.quant.fake_quant import current_path, round_ste, straight_through


class FeatureSqueeze(nn.Module):
    def __init__(self, model: nn.Module, bits: int = 5, median: int = 2):
        super().__init__()
        self.model, self.bits, self.median = model, bits, median

    def squeeze(self, x: torch.Tensor) -> torch.Tensor:
        levels = 2 ** self.bits - 1
        if current_path()[0] == "ste":
            x = straight_through(x, torch.round(x.detach() * levels) / levels)
        else:  # an attack's bpda / smooth / float path goes through the squeezer's rounding too
            x = round_ste(x * levels) / levels
        k = self.median
        if k > 1:
            # pad so the output keeps H x W (an even window takes the extra row/column at the end)
            x = F.pad(x, ((k - 1) // 2, k // 2, (k - 1) // 2, k // 2), mode="reflect")
            b, c, h, w = x.shape
            patches = x.unfold(2, k, 1).unfold(3, k, 1)  # B x C x H x W x k x k
            x = patches.reshape(b, c, h - k + 1, w - k + 1, k * k).median(dim=-1).values
        return x

    def forward(self, x):
        return self.model(self.squeeze(x))


DEFENSES = {"none": None, "fs": FeatureSqueeze}


def wrap(model: nn.Module, defense: str, **kw) -> nn.Module:
    if defense not in DEFENSES:
        raise ValueError(f"unknown defense '{defense}'; allowed: {', '.join(DEFENSES)}")
    return model if DEFENSES[defense] is None else DEFENSES[defense](model, **kw)
