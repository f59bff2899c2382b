"""Figure registry; importing this package registers every figure."""
from ._base import FIGURES, register_figure
from . import fig1, pareto  # noqa: F401  (registration)

__all__ = ["FIGURES", "register_figure"]
