"""Model registry; importing this package registers every model."""
from qrobust.models._base import MODELS, Normalize, create_model, register_model
from qrobust.models import resnet, small_cnn, vgg, wide_resnet  # noqa: F401  (registration)

__all__ = ["MODELS", "Normalize", "create_model", "register_model"]
