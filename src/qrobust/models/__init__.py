"""Model registry. Each model is one module of this package that registers its factory with
`@register_model("name")`; `create_model(name, ...)` imports only that module (qrobust.plan.registry)."""
from qrobust.models._base import MODELS, Normalize, create_model, inference_layout, register_model, training_layout

__all__ = ["MODELS", "Normalize", "create_model", "inference_layout", "register_model", "training_layout"]
