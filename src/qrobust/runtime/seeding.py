"""Seeding, threads and device choice: what makes a job reproducible."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed every RNG a job touches; return a generator for data order."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # bit-for-bit reproducibility on CPU; on CUDA deterministic kernels where they exist
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def set_threads(n: int) -> None:
    torch.set_num_threads(max(1, int(n)))


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present, else CPU; an explicit `cuda` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' asked for but no CUDA GPU is visible; set device: auto or cpu")
    return torch.device(name)
