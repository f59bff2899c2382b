"""Figure registry. Each figure lives in its paper's package (qrobust/papers/<paper>/) and registers
itself with `@register_figure("name")`; `FIGURES.get(name)` imports only that module."""
from qrobust.figures._base import FIGURES, register_figure

__all__ = ["FIGURES", "register_figure"]
