"""Table registry; importing this package registers every table builder."""
from qrobust.tables._base import TABLES, register_table
from qrobust.papers.robust_bench import quantizers_table as quantizers  # noqa: F401  (registration)
from qrobust.papers.dq import tables234 as robust  # noqa: F401  (registration)
from qrobust.papers.dq import table1  # noqa: F401  (registration)
from qrobust.papers.robust_bench import table5  # noqa: F401  (registration)
from qrobust.papers.ohq import table6  # noqa: F401  (registration)
from qrobust.papers.li2024 import table7  # noqa: F401  (registration)
from qrobust.papers.qu_anti import table8  # noqa: F401  (registration)

__all__ = ["TABLES", "register_table"]
