"""Attack registry; importing this package registers every attack."""
from qrobust.attacks._base import ATTACKS, Attack, register_attack
from qrobust.attacks import bim, fgsm, pgd, random, rfgsm, square, transfer

_REGISTERED = (bim, fgsm, pgd, random, rfgsm, square, transfer)  # imported for their @register_attack

__all__ = ["ATTACKS", "Attack", "register_attack", "create_attack"]


def create_attack(name: str, model, **kw) -> Attack:
    return ATTACKS.get(name)(model, **kw)
