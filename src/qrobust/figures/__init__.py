"""Figure registry; importing this package registers every figure."""
from qrobust.figures._base import FIGURES, register_figure
from qrobust.papers.dq import figures as dq_figs  # noqa: F401  (registration)
from qrobust.papers.dq import fig1  # noqa: F401  (registration)
from qrobust.papers.robust_bench import figures as noise  # noqa: F401  (registration)
from qrobust.papers.ohq import pareto  # noqa: F401  (registration)

__all__ = ["FIGURES", "register_figure"]
