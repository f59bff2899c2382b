"""Deployment: build each mixed-precision model for real and measure it (OHQ's last step).

Every layer runs at its planned precision: intK layers on torch's quantized CPU kernels (K < 8 as
the int8 kernel on a K-bit grid), float layers as float modules. Accuracy comes from running the
test split through that model; latency from timing it end to end, all plans interleaved round by
round in one process so they are compared under the same conditions. The profile's per-layer
figures give the modelled latency, size and BitOPs beside the measurement.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from qrobust.evaluation import images
from qrobust.papers.ohq.sensitivity import qparams_for
from qrobust.quant.graph import set_submodule
from qrobust.quant.kernels import make_layer
from qrobust.quant.precision import parse_precision
from qrobust.quant.timing import time_interleaved


def build_mixed(folded: nn.Module, plan: dict[str, str], ranges: dict, device, engine: str = "x86") -> nn.Module:
    """A copy of the BN-folded float model with each planned layer replaced by its executable precision."""
    model = copy.deepcopy(folded).eval()
    for name, precision in plan.items():
        p = parse_precision(precision)
        qp = qparams_for(ranges[name], p.bits) if p.kind == "int" else None
        set_submodule(model, name, make_layer(model.get_submodule(name), precision, qp, device, engine))
    # NHWC for every plan: torch's quantized kernels produce it anyway, and float convs and pooling
    # are 3x faster in it on CPU (measured: 2.0 vs 6.7 ms for the default model), so each plan is
    # timed in its best layout rather than the float plans in a slow one
    return model.to(device, memory_format=torch.channels_last)


def plan_figures(plan: dict[str, str], profile: dict) -> dict:
    """Modelled latency, size and BitOPs of a plan from the per-layer profile (and whether all were measured)."""
    layers = {lay["name"]: lay for lay in profile["layers"]}
    lat = sum(layers[n]["latency_ms"][p] for n, p in plan.items())
    modelled = sorted({p for n, p in plan.items() if layers[n]["source"][p] != "measured"})
    return {"latency_model_ms": lat, "latency_model_source": "measured" if not modelled else f"cost model for {', '.join(modelled)}",
            "size_bytes": sum(layers[n]["size_bytes"][p] for n, p in plan.items()),
            "bitops": sum(layers[n]["bitops"][p] for n, p in plan.items())}


@torch.no_grad()
def correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device, batch_size: int = 500) -> torch.Tensor:
    """Per image: classified correctly (bool N)."""
    out = []
    for i in range(0, len(y), batch_size):
        xb = x[i:i + batch_size].float().div_(255.0).to(device).contiguous(memory_format=torch.channels_last)
        out.append(model(xb).argmax(1).cpu() == y[i:i + batch_size])
    return torch.cat(out)


def deploy_all(folded: nn.Module, plans: dict[str, dict[str, str]], ranges: dict, profile: dict,
               x: torch.Tensor, y: torch.Tensor, *, device, engine: str = "x86", batch_size: int = 64,
               warmup: int = 10, repeats: int = 50) -> dict[str, dict]:
    """Per plan id: accuracy on (x, y) (and per image: "correct", "images"), measured end-to-end latency of one
    batch (median; every interleaved round in "latency_times_ms"), modelled figures.

    Plans that are the same allocation (two budgets can give one plan) are built and timed once,
    so a table never shows one model with two latencies."""
    key = {pid: tuple(sorted(plan.items())) for pid, plan in plans.items()}
    first = {}
    for pid in plans:
        first.setdefault(key[pid], pid)
    models = {pid: build_mixed(folded, plans[pid], ranges, device, engine) for pid in first.values()}
    batch = x[:batch_size].float().div_(255.0).to(device).contiguous(memory_format=torch.channels_last)
    timing = time_interleaved({pid: (m, batch) for pid, m in models.items()}, warmup=warmup, repeats=repeats,
                              keep_times=True)
    ok = {pid: correct(m, x, y, device) for pid, m in models.items()}
    out = {}
    for pid, plan in plans.items():
        src = first[key[pid]]
        t = timing[src]
        out[pid] = {"accuracy": 100.0 * ok[src].sum().item() / len(y), "correct": images.bits(ok[src]),
                    "images": images.encode(range(len(y))), "latency_ms": t["median_ms"],
                    "latency_spread_ms": [t["p10_ms"], t["p90_ms"]], "latency_times_ms": t["times_ms"],
                    "latency_source": "measured end to end", "batch_size": batch_size, **plan_figures(plan, profile)}
    return out
