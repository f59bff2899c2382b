"""Quantization core: one stack of STE fake quantizers (fake_quant.py), described by QuantizerSpec
(spec.py), built by the registries of quantizers and calibrators, applied by `quantize_`.

Names are imported on first use, so `qrobust.quant.spec` stays importable without torch (config
validation runs while Snakemake parses the workflow).
"""
import importlib

__all__ = ["QuantConfig", "quantize_", "quant_layers", "fake_quantize", "quantize_range", "quantize_weight_symmetric",
           "ACT_RANGES", "QConv2d", "QLinear", "QuantAct", "CALIBRATORS", "calibrate", "qparams",
           "QUANTIZERS", "Quantizer", "QuantizerSpec", "SchemeSpec", "make_quantizer"]

# names this package gives on first use: name -> the module defining it
# (qrobust.plan.sources reads this dict, so a module importing one of them declares that module's file)
_LAZY = {
    "QuantConfig": "qrobust.quant.config", "quantize_": "qrobust.quant.config", "quant_layers": "qrobust.quant.config",
    "fake_quantize": "qrobust.quant.fake_quant", "quantize_range": "qrobust.quant.fake_quant",
    "quantize_weight_symmetric": "qrobust.quant.fake_quant",
    "ACT_RANGES": "qrobust.quant.layers", "QConv2d": "qrobust.quant.layers", "QLinear": "qrobust.quant.layers",
    "QuantAct": "qrobust.quant.layers",
    "CALIBRATORS": "qrobust.quant.calibrators", "calibrate": "qrobust.quant.calibrators", "qparams": "qrobust.quant.calibrators",
    "QUANTIZERS": "qrobust.quant.quantizers", "Quantizer": "qrobust.quant.quantizers",
    "make_quantizer": "qrobust.quant.quantizers",
    "QuantizerSpec": "qrobust.quant.spec", "SchemeSpec": "qrobust.quant.spec",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
