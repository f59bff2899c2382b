"""Table registry; importing this package registers every table builder."""
from ._base import TABLES, register_table
from . import quantizers, robust, table1, table5, table6, table7, table8  # noqa: F401  (registration)

__all__ = ["TABLES", "register_table"]
