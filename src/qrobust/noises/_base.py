"""Noise base: natural corruptions (ImageNet-C / CIFAR-10-C) and system noises (SysNoise).

Papers: Xiao, Liu et al., "Benchmarking the Robustness of Quantized Models", 2023 (corruptions and
system noises across bit-widths); Wang et al., "SysNoise: Exploring and Benchmarking Training-Deployment
System Inconsistency", MLSys 2023.

Every noise maps a uint8 batch N x C x H x W (C = 1 or 3) to a uint8 batch of the same shape.
`levels` are the allowed values of `level`: severities 1..5 for corruptions, variant names for system
noises (one of them, `reference`, is what training used).

Seeding: image i of a batch is drawn from its own stream, keyed by (seed, start + i), where `start` is
the index of the batch's first image in the whole set. So a set corrupted in one call equals the same
set corrupted in batches (pass each batch's offset as `start`), and the same (seed, index) gives the same
bytes on every run. An index keeps two identical images independent, unlike a content hash.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from qrobust.plan.registry import Registry

NOISES: Registry = Registry("noise")


def register_noise(name: str):
    """Register a Noise class under `name` (also stored as its `name`, for messages)."""

    def deco(cls):
        cls.name = name
        return NOISES.register(name)(cls)

    return deco


KINDS = ("corruption", "system")


def image_seed(seed: int, index: int) -> int:
    """A 32-bit seed for image `index` under `seed` (SeedSequence hashing: no collisions between
    e.g. (0, 1_000_003) and (1, 0), as a linear mix would give)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


class Noise:
    """Subclasses set `kind`, `levels` (and `reference` for system noises) and implement `apply_image`.

    `random` says whether the output depends on the seed (deterministic corruptions such as contrast,
    and all system noises, ignore it).
    """

    name: str = ""
    kind: str = ""
    levels: Sequence = ()
    reference = None  # system noises: the variant training used
    random: bool = False

    def check_level(self, level) -> None:
        # bool is an int: True would pass as severity 1, so reject it explicitly
        if isinstance(level, bool) or level not in self.levels:
            if self.kind == "corruption":
                allowed = f"severities {min(self.levels)}..{max(self.levels)}"
            else:
                allowed = "variants " + ", ".join(map(str, self.levels))
            raise ValueError(f"noise '{self.name}': level {level!r} is not allowed; allowed: {allowed}")

    def apply_image(self, img: np.ndarray, level, seed: int) -> np.ndarray:
        """One image, H x W x C uint8 -> H x W x C uint8; `seed` is that image's own seed."""
        raise NotImplementedError

    def apply(self, x: torch.Tensor, level, seed: int = 0, start: int = 0) -> torch.Tensor:
        """Noisy copy of a uint8 batch N x C x H x W; image i uses the stream (seed, start + i)."""
        self.check_level(level)
        if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] not in (1, 3):
            got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"noise '{self.name}' expects a uint8 tensor N x C x H x W with C in (1, 3), got {got}")
        if seed < 0 or start < 0:
            raise ValueError(f"seed and start must be >= 0, got seed={seed}, start={start}")
        imgs = x.detach().cpu().permute(0, 2, 3, 1).numpy()  # N x H x W x C
        out = np.empty_like(imgs)
        for i, img in enumerate(imgs):
            s = image_seed(seed, start + i) if self.random else 0
            res = self.apply_image(np.ascontiguousarray(img), level, s)
            if res.shape != img.shape or res.dtype != np.uint8:  # a bug in a subclass, not a user error
                raise RuntimeError(f"noise '{self.name}' returned {res.dtype} {res.shape} for {img.shape}")
            out[i] = res
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous().to(x.device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, kind={self.kind!r})"


def to_rgb(img: np.ndarray) -> np.ndarray:
    """H x W x 1 -> H x W x 3 (replicated); H x W x 3 unchanged."""
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img


def from_rgb(rgb: np.ndarray, channels: int) -> np.ndarray:
    """Back to `channels`: a grayscale input gets the rounded channel mean."""
    if channels == 3:
        return rgb
    return np.rint(rgb.astype(np.float64).mean(axis=2, keepdims=True)).astype(np.uint8)
