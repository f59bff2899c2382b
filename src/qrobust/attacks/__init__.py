"""Attack registry. Each attack is one module of this package that registers itself with
`@register_attack("name")`; `create_attack(name, ...)` imports only that module (qrobust.plan.registry)."""
from qrobust.attacks._base import ATTACKS, PATHS, Attack, register_attack

__all__ = ["ATTACKS", "PATHS", "Attack", "register_attack", "create_attack"]


def create_attack(name: str, model, *, path: str = "ste", temperature: float = 0.25, form: str = "tanh", **kw) -> Attack:
    """Attack `name` on `model` through gradient path `path` (ste, bpda, surrogate, float); bpda and surrogate
    take the smooth staircase of `form` (tanh at `temperature`, or sine)."""
    return ATTACKS.get(name)(model, **kw).through(path, temperature, form)
