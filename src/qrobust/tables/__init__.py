"""Table registry; importing this package registers every table builder."""
from ._base import TABLES, register_table
from . import table1  # noqa: F401  (registration)

__all__ = ["TABLES", "register_table"]
