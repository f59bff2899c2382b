"""Quantization core: STE fake quantizers, registries of quantizers and calibrators, `quantize_`."""
from qrobust.quant.calibrators import CALIBRATORS, calibrate, qparams
from qrobust.quant.config import QuantConfig, quant_layers, quantize_
from qrobust.quant.fake_quant import fake_quantize, quantize_range, quantize_weight_symmetric
from qrobust.quant.layers import ACT_RANGES, QConv2d, QLinear, QuantAct
from qrobust.quant.quantizers import QUANTIZERS, Quantizer, QuantizerSpec, make_quantizer

__all__ = ["QuantConfig", "quantize_", "quant_layers", "fake_quantize", "quantize_range", "quantize_weight_symmetric",
           "ACT_RANGES", "QConv2d", "QLinear", "QuantAct", "CALIBRATORS", "calibrate", "qparams",
           "QUANTIZERS", "Quantizer", "QuantizerSpec", "make_quantizer"]
