"""Quantization core: STE fake quantizers, quantizable layers, and `quantize_`."""
from .config import QuantConfig, quantize_
from .fake_quant import fake_quantize, quantize_range, quantize_weight_symmetric
from .layers import ACT_RANGES, QConv2d, QLinear, QuantAct

__all__ = ["QuantConfig", "quantize_", "fake_quantize", "quantize_range", "quantize_weight_symmetric",
           "ACT_RANGES", "QConv2d", "QLinear", "QuantAct"]
