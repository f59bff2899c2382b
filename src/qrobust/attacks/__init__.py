"""Attack registry; importing this package registers every attack."""
from ._base import ATTACKS, Attack, register_attack
from . import fgsm  # noqa: F401  (registration)

__all__ = ["ATTACKS", "Attack", "register_attack", "create_attack"]


def create_attack(name: str, model, **kw) -> Attack:
    return ATTACKS.get(name)(model, **kw)
