"""Noise registry (natural corruptions and system noises). Each noise is a class in a module of this
package registered with `@register_noise("name")`; `create_noise(name)` imports only that module.

    >>> from qrobust.noises import create_noise
    >>> x_fog = create_noise("fog").apply(x_uint8, 3, seed=0)           # severity 3
    >>> x_cv2 = create_noise("resize").apply(x_uint8, "cv2-linear")    # a system-noise variant
"""
import importlib

from qrobust.noises._base import NOISES, Noise, image_seed, register_noise

__all__ = ["NOISES", "Noise", "Corruption", "create_noise", "register_noise", "image_seed", "CORRUPTIONS",
           "SYSTEM_NOISES", "corruptions", "system"]

# names this package gives on first use, without importing them up front: name -> the module defining it
# (qrobust.plan.sources reads this dict, so a module importing one of them declares that module's file)
_LAZY = {"Corruption": "qrobust.noises.corruptions"}


def create_noise(name: str, **kw) -> Noise:
    return NOISES.get(name)(**kw)


def __getattr__(name: str):
    # the noise names by kind, read from the source (no noise module is imported)
    if name == "CORRUPTIONS":
        return tuple(NOISES.names(kind="corruption"))
    if name == "SYSTEM_NOISES":
        return tuple(NOISES.names(kind="system"))
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
