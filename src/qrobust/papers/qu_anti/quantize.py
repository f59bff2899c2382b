"""Qu-ANTI-zation's quantizer Q_b, on the quantizer stack: `quantized(model, wbits, abits)`.

Per-layer (per-tensor) symmetric weights over max|w| and asymmetric activations over the current
batch's [min, max] (widened to hold 0), both `dynamic` QuantizerSpecs: the range comes from each
input as a whole at every call and carries no gradient (as in the paper's code), straight-through
gradients. Per-channel weights and floor or stochastic rounding are the same spec with another
`per_channel` or `rounding` (the repairs evaluate.py measures).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import torch.nn as nn

from qrobust.quant.config import quant_layers
from qrobust.quant.fake_quant import SeededDraws
from qrobust.quant.quantizers import make_quantizer
from qrobust.quant.spec import QuantizerSpec

FIRST_INPUT_BITS = 8  # the image input is quantized at max(b, 8) bits (pixels are 8-bit)

_MISSING = object()


def attack_specs(wbits: int | None, abits: int | None, *, per_channel: bool = False, rounding: str = "nearest"):
    """(weight spec, activation spec) of Q_b; None where that part stays float. Checks bits and rounding."""
    base = QuantizerSpec(dynamic=True, rounding=rounding)
    w = None if wbits is None else replace(base, bits=wbits, per_channel=per_channel, symmetric=True, role="weight")
    a = None if abits is None else replace(base, bits=abits, symmetric=False, role="act")
    return w, a


@contextmanager
def quantized(model: nn.Module, wbits: int | None, abits: int | None, *, per_channel: bool = False,
              rounding: str = "nearest", seed: int = 0):
    """Run `model` quantized inside the block: the attack's quantizer at `wbits` weights and `abits`
    activations (None: that part stays float). Every QConv2d/QLinear gets temporary `wq`/`aq`
    quantizers (dynamic ranges: no state); the first layer's input (the image) keeps max(abits, 8)
    bits. On exit (also on an error) each layer's own `wq`, `aq` and `weight_bits` come back, so the
    float model is restored exactly. rounding: nearest | floor | stochastic (stochastic draws from
    one generator per device, seeded with `seed` when the block opens, shared by every layer)."""
    wspec, aspec = attack_specs(wbits, abits, per_channel=per_channel, rounding=rounding)
    layers = [m for _, m in quant_layers(model)]
    if not layers:
        raise ValueError("the model has no QConv2d/QLinear layers to quantize")
    draws = SeededDraws(seed)
    # (where, value) of each layer's own settings: a submodule slot, a plain attribute, or absent
    saved = [{k: ("_modules", m._modules[k]) if k in m._modules else ("__dict__", m.__dict__.get(k, _MISSING))
              for k in ("wq", "aq", "weight_bits")} for m in layers]
    try:
        for i, m in enumerate(layers):
            for k in ("wq", "aq"):
                if k in m.__dict__:  # a plain attribute (None) would shadow the submodule
                    del m.__dict__[k]
            m.weight_bits = None
            device = m.weight.device
            m.wq = None if wspec is None else make_quantizer(wspec, "weight", m.weight.shape[0], draws).to(device)
            a = aspec if aspec is None or i else replace(aspec, bits=max(aspec.bits, FIRST_INPUT_BITS))
            m.aq = None if a is None else make_quantizer(a, "act", draws=draws).to(device)
        yield model
    finally:
        for m, old in zip(layers, saved):
            for k, (where, v) in old.items():
                m._modules.pop(k, None)
                m.__dict__.pop(k, None)
                if v is not _MISSING:
                    getattr(m, where)[k] = v
