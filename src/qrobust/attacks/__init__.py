"""Attack registry. Each attack is one module of this package that registers itself with
`@register_attack("name")`; `create_attack(name, ...)` imports only that module (qrobust._registry)."""
from qrobust.attacks._base import ATTACKS, Attack, register_attack

__all__ = ["ATTACKS", "Attack", "register_attack", "create_attack"]


def create_attack(name: str, model, **kw) -> Attack:
    return ATTACKS.get(name)(model, **kw)
