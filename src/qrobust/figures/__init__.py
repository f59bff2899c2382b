"""Figure registry; importing this package registers every figure."""
from ._base import FIGURES, register_figure
from . import dq_figs, fig1, noise, pareto  # noqa: F401  (registration)

__all__ = ["FIGURES", "register_figure"]
