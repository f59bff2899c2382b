"""Noise registry (natural corruptions and system noises); importing this package registers every noise.

    >>> from qrobust.noises import create_noise
    >>> x_fog = create_noise("fog").apply(x_uint8, 3, seed=0)           # severity 3
    >>> x_cv2 = create_noise("resize").apply(x_uint8, "cv2-linear")    # a system-noise variant
"""
from qrobust.noises._base import NOISES, Noise, image_seed, register_noise
from qrobust.noises import corruptions, system  # importing them registers every noise
from qrobust.noises.corruptions import Corruption

__all__ = ["NOISES", "Noise", "Corruption", "create_noise", "register_noise", "image_seed", "CORRUPTIONS",
           "SYSTEM_NOISES", "corruptions", "system"]


def create_noise(name: str, **kw) -> Noise:
    return NOISES.get(name)(**kw)


CORRUPTIONS = tuple(n for n in NOISES.names() if NOISES.get(n).kind == "corruption")
SYSTEM_NOISES = tuple(n for n in NOISES.names() if NOISES.get(n).kind == "system")
