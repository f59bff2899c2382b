"""Checkpoints hold plain tensors and a spec to rebuild the model (torch.load(weights_only=True) works)."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from qrobust.models import create_model
from qrobust.quant import QuantConfig, quantize_
from qrobust.runtime import atomic

FORMAT = "qrobust-checkpoint-v1"


class CheckpointError(ValueError):
    pass


def _row_major(t: torch.Tensor) -> torch.Tensor:
    """t with row-major strides: one layout on disk, the same bytes for a model saved in channels_last
    (models.inference_layout), where even a weight with one input channel has other strides."""
    plain = tuple(int(torch.tensor(t.shape[i + 1:]).prod()) for i in range(t.dim()))
    return t if t.stride() == plain else t.clone(memory_format=torch.contiguous_format)


def save_checkpoint(path, model: nn.Module, spec: dict, extra: dict | None = None) -> None:
    """`spec`: create_model kwargs under "model", the QuantConfig fields under "quant", and
    "folded": True when BatchNorm was folded into the convs (PTQ)."""
    state = {k: _row_major(v.detach().cpu()) for k, v in model.state_dict().items()}
    atomic.torch_save(path, {"format": FORMAT, "spec": spec, "state_dict": state, "extra": extra or {}})


def load_checkpoint(path, device="cpu") -> tuple[nn.Module, dict]:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found; run the train rule that makes it")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, wrong pickle, random bytes: all the same to a user
        raise CheckpointError(f"{path}: corrupted or not a torch checkpoint ({type(e).__name__}); {atomic.rerun(path)}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} file; {atomic.rerun(path)}")
    spec = blob["spec"]
    model = create_model(**spec["model"])
    if spec.get("folded"):  # PTQ checkpoints hold BN-folded weights: same structure, then their values
        from qrobust.quant.ptq import fold_bn

        model = fold_bn(model)
    try:
        quantize_(model, QuantConfig(**spec["quant"]))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its quantization spec is not understood ({e}); {atomic.rerun(path)}") from None
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit model {spec['model'].get('name')} "
                              f"({str(e).splitlines()[0]}); {atomic.rerun(path)}") from None
    return model.to(device).eval(), blob
