"""The precision vocabulary of OHQ's layers: fp32, fp16, bf16 and int2..int8 (no torch.ao here)."""
from __future__ import annotations

import re
from typing import NamedTuple

import torch

_FLOAT_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_INT_RE = re.compile(r"int([2-8])")


class Precision(NamedTuple):
    name: str            # canonical string, e.g. "int4"
    kind: str            # "float" or "int"
    bits: int
    dtype: torch.dtype | None  # float dtype; None for int


def parse_precision(p: str) -> Precision:
    name = p.strip().lower() if isinstance(p, str) else ""
    if name in _FLOAT_DTYPES:
        return Precision(name, "float", 32 if name == "fp32" else 16, _FLOAT_DTYPES[name])
    m = _INT_RE.fullmatch(name)
    if m:
        return Precision(name, "int", int(m.group(1)), None)
    raise ValueError(f"unknown precision '{p}'; use fp32, fp16, bf16 or int2..int8")


def ordered(precisions: list[str]) -> list[str]:
    """High to low precision (fp32 first, the lowest int last): the allocator's convention."""
    return sorted(precisions, key=lambda p: -parse_precision(p).bits)


def precision_bits(p: str) -> int:
    return parse_precision(p).bits
