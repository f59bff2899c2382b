"""Table registry. Each table builder lives in its paper's package (qrobust/papers/<paper>/) and
registers itself with `@register_table("name")`; `TABLES.get(name)` imports only that module."""
from qrobust.tables._base import TABLES, register_table

__all__ = ["TABLES", "register_table"]
