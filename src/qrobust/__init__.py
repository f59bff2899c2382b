"""qrobust: reproducible pipelines for quantization and adversarial robustness papers."""

__version__ = "0.1.0"
